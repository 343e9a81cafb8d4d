"""Understanding a network: FC→CONV conversion, the memory budget, saliency, feature
visualisation, per-layer explanations, side-by-side comparison and the notes' case studies
(NumPy only, no Qt).

Each module has a small function API that returns plain data for the GUI's panels:

- ``fcconv``: ``convert_fc_to_conv``, ``check_equivalence``, ``score_grid``, ``sliding_cost``
- ``memory``: ``memory_budget`` → ``MemoryBudget`` (rows, totals, explain, ``fits``)
- ``saliency``: ``saliency`` → gradient of a class score or unit w.r.t. the input
- ``featureviz``: ``visualize_channels`` → inputs that excite each channel most
- ``explain``: ``explain(net, layer_name)`` → sections of worked arithmetic
- ``compare``: ``compare(net_a, net_b)`` → rows paired by structure (gaps where one has no
  counterpart, differing figures with their deltas) and totals
- ``cases``: ``card(net)`` → the notes' claims about a case study beside its measured figures
"""
