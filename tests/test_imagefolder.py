"""convscope.core.imagefolder: walking a class-per-subfolder folder, the stratified split,
augmentation and the after-run figures, against hand-worked values."""

from __future__ import annotations

import numpy as np
import pytest
from convscope.core import ConvScopeError, Network
from convscope.core.imagefolder import (
    check_budget,
    confusion_matrix,
    flip_horizontal,
    misclassified,
    random_crop,
    scan_folder,
    stratified_split,
)
from convscope.core.network import InputSpec
from convscope.core.train import TrainConfig, Trainer


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")  # never decoded: scanning goes by name
    return path


def test_scan_lists_sorted_classes_and_their_images_only(tmp_path):
    for name in ("b.png", "a.JPG", "notes.txt", ".hidden.png", "deep/c.jpeg"):
        touch(tmp_path / "zebra" / name)
    touch(tmp_path / "apple" / "x.bmp")
    touch(tmp_path / "loose.png")  # not in a class folder: ignored
    folder = scan_folder(tmp_path)
    assert folder.classes == ("apple", "zebra")
    rel = [p.relative_to(tmp_path).as_posix() for p in folder.files]
    assert rel == ["apple/x.bmp", "zebra/a.JPG", "zebra/b.png", "zebra/deep/c.jpeg"]
    assert folder.labels.tolist() == [0, 1, 1, 1]
    assert folder.counts == [1, 3]
    assert folder.summary() == "2 classes, 4 images: apple 1, zebra 3"


@pytest.mark.parametrize("layout, words", [
    ({}, "has 0 subfolder(s); training needs one subfolder per class"),
    ({"only": ["a.png"]}, "has 1 subfolder(s)"),
    ({"cat": ["a.png"], "dog": ["readme.txt"]}, "the class folder 'dog' holds no images"),
])
def test_scan_refuses_in_one_line(tmp_path, layout, words):
    for cls, names in layout.items():
        (tmp_path / cls).mkdir()
        for name in names:
            touch(tmp_path / cls / name)
    with pytest.raises(ConvScopeError) as err:
        scan_folder(tmp_path)
    assert words in str(err.value) and str(err.value).startswith(str(tmp_path))
    assert "\n" not in str(err.value)


def test_scan_refuses_more_images_than_the_budget_and_a_file(tmp_path):
    for k in range(3):
        touch(tmp_path / "a" / f"{k}.png")
        touch(tmp_path / "b" / f"{k}.png")
    with pytest.raises(ConvScopeError, match="more than 5 images"):
        scan_folder(tmp_path, max_images=5)
    with pytest.raises(ConvScopeError, match="is not a folder"):
        scan_folder(tmp_path / "a" / "0.png")


def test_budget_counts_the_decoded_arrays_before_decoding(tmp_path):
    for k in range(4):
        touch(tmp_path / "a" / f"{k}.png")
        touch(tmp_path / "b" / f"{k}.png")
    folder = scan_folder(tmp_path)
    spec = InputSpec(channels=3, height=32, width=32)
    check_budget(folder, spec, max_bytes=8 * 3 * 32 * 32 * 4)  # exactly fits
    with pytest.raises(ConvScopeError, match="8 images at 32×32×3 would take"):
        check_budget(folder, spec, max_bytes=8 * 3 * 32 * 32 * 4 - 1)


def test_stratified_split_holds_out_a_fifth_of_every_class():
    labels = np.array([0] * 10 + [1] * 5 + [2] * 1)
    train, test = stratified_split(labels, 0.2, seed=0)
    # 10 → 2 held out, 5 → 1, a class of one image stays in training
    assert np.bincount(labels[test], minlength=3).tolist() == [2, 1, 0]
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(16))
    assert list(test) == sorted(test)
    again = stratified_split(labels, 0.2, seed=0)
    assert np.array_equal(again[1], test)  # seeded
    other = [tuple(stratified_split(labels, 0.2, seed=s)[1]) for s in range(1, 6)]
    assert any(t != tuple(test) for t in other)  # the seed matters


def test_flip_and_crop_on_a_tiny_array():
    x = np.arange(2 * 1 * 2 * 3, dtype=np.float32).reshape(2, 1, 2, 3)
    # image 0: [[0 1 2] [3 4 5]], image 1: [[6 7 8] [9 10 11]]

    class Fixed:  # an rng whose draws are written out
        def random(self, n):
            return np.array([0.7, 0.2])  # < 0.5: flip image 1 only

        def integers(self, low, high, n):
            self.calls = getattr(self, "calls", 0) + 1
            return np.array([0, 2]) if self.calls == 1 else np.array([1, 0])  # dy, then dx

    flipped = flip_horizontal(x, Fixed())
    assert flipped[0, 0].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert flipped[1, 0].tolist() == [[8, 7, 6], [11, 10, 9]]
    assert x[1, 0, 0, 0] == 6  # the input is not changed
    # padding 1: image 0 shifted by (dy 0, dx 1) → rows −1..0, cols 0..2 of the original;
    # image 1 by (dy 2, dx 0) → rows 1..2, cols −1..1
    cropped = random_crop(x, Fixed(), 1)
    assert cropped[0, 0].tolist() == [[0, 0, 0], [0, 1, 2]]
    assert cropped[1, 0].tolist() == [[0, 9, 10], [0, 0, 0]]


def test_confusion_matrix_of_three_classes_by_hand():
    true = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    pred = [0, 1, 0, 1, 1, 2, 0, 2, 1]
    # row = true, column = predicted
    assert confusion_matrix(true, pred, 3).tolist() == [[2, 1, 0],
                                                        [0, 2, 0],
                                                        [1, 1, 2]]


def test_misclassified_lists_the_most_confident_mistakes_first():
    probs = np.array([[0.9, 0.1, 0.0],    # right
                      [0.3, 0.6, 0.1],    # true 0, said 1 at 0.6
                      [0.05, 0.05, 0.9],  # true 1, said 2 at 0.9
                      [0.2, 0.7, 0.1]])   # right
    labels = np.array([0, 0, 1, 1])
    got = [(m.index, m.true, m.predicted, round(m.confidence, 2))
           for m in misclassified(probs, labels)]
    assert got == [(2, 1, 2, 0.9), (1, 0, 1, 0.6)]
    assert len(misclassified(probs, labels, limit=1)) == 1


def test_trainer_augments_from_seed_and_step_so_a_resumed_run_matches():
    net = Network.from_dict({"format": "convscope", "version": 1, "seed": 1,
                             "input": {"channels": 1, "height": 6, "width": 6},
                             "layers": [{"type": "fc", "name": "fc", "units": 2}]})
    rng = np.random.default_rng(0)
    x = rng.random((8, 1, 6, 6)).astype(np.float32)
    y = np.array([0, 1] * 4)
    config = dict(optimizer="sgd", lr=0.1, batch_size=4, epochs=2)
    seen = []
    original = Trainer._augmented

    def record(trainer, batch):
        out = original(trainer, batch)
        seen.append(out)
        return out

    plain = Trainer(net.copy(), x, y, config=TrainConfig(**config))
    assert plain._augmented(x) is x  # no augmentation asked: the batch as it is
    whole = Trainer(net.copy(), x, y, config=TrainConfig(**config, flip=True, crop_padding=2))
    Trainer._augmented = record
    try:
        whole.run()
        split = Trainer(net.copy(), x, y, config=TrainConfig(**config, flip=True,
                                                             crop_padding=2))
        split.run(max_steps=1)
        split.run()
    finally:
        Trainer._augmented = original
    assert len(seen) == 8
    assert not np.array_equal(seen[0], x[whole.batch_indices(0)])  # changed
    for a, b in zip(seen[:4], seen[4:]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(whole.net.weights["fc.weight"], split.net.weights["fc.weight"])
