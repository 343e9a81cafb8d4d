"""What the live views compute, without Qt: the forward pass the worker runs
(``forward``), which tensor a view shows (``tensors``), maps tiled into one picture
(``mosaic``), one output value worked out by hand (``steps``), the first conv's weights
(``weights``) and pictures for the screen (``images``). The GUI's views only draw these."""
