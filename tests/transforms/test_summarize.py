"""Summary rows name each image's folder below its --input root, so queries can group by store and month."""
import pytest

from transforms.rows import input_root, relative_folder


@pytest.mark.parametrize("pattern, root", [
    ("/archive/**", "/archive"), ("/archive/*.jpg", "/archive"), ("/archive/a.jpg", "/archive"),
    ("gs://b/photos/2026-*/x.jpg", "gs://b/photos"), ("photos/*", "photos"), ("*.jpg", ""),
])
def test_input_root_is_the_folder_before_any_wildcard(pattern, root):
    assert input_root(pattern) == root


def test_relative_folder_takes_the_deepest_root_holding_the_image():
    roots = ("/archive", "/archive/store12", "gs://b/photos")
    assert relative_folder("/archive/store12/2026-11/a.jpg", roots) == "2026-11"
    assert relative_folder("/archive/store3/2026-10/a.jpg", roots) == "store3/2026-10"
    assert relative_folder("/archive/a.jpg", roots) == ""
    assert relative_folder("gs://b/photos/s1/m/a.jpg", roots) == "s1/m"
    assert relative_folder("/archived/a.jpg", roots) is None  # a prefix of a name is not its folder
    assert relative_folder("/elsewhere/a.jpg", roots) is None
