"""Local listing: Beam's pattern language, listing only the folders a pattern can reach."""
import os

import pytest

from transforms.listing import local_pattern, walk_pattern


def _tree(root):
    """root/top.jpg, root/a/one.jpg, root/a/b/two.jpg, root/c/note.txt, root/deep/x/y/z/far.jpg."""
    for name in ("top.jpg", "a/one.jpg", "a/b/two.jpg", "c/note.txt", "deep/x/y/z/far.jpg"):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    return root


def _found(pattern):
    return sorted(walk_pattern(pattern))


@pytest.fixture
def listed(monkeypatch):
    """The folders os.scandir is asked to list (os.walk lists through it too), in order."""
    seen = []
    scandir = os.scandir

    def recording(path=os.curdir):
        seen.append(os.fspath(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", recording)
    return seen


def test_a_star_stays_in_one_folder_and_a_double_star_goes_down(tmp_path):
    root = _tree(tmp_path)
    assert _found(f"{root}/*.jpg") == [f"{root}/top.jpg"]
    assert _found(f"{root}/*/*.jpg") == [f"{root}/a/one.jpg"]
    assert _found(f"{root}/**/*.jpg") == [f"{root}/a/b/two.jpg", f"{root}/a/one.jpg",
                                          f"{root}/deep/x/y/z/far.jpg"]
    assert f"{root}/a/b/two.jpg" in _found(f"{root}/**") and f"{root}/top.jpg" in _found(f"{root}/**")


def test_question_marks_and_classes_stay_within_a_name(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b").write_bytes(b"x")
    (tmp_path / "a-b").write_bytes(b"x")
    assert _found(f"{tmp_path}/a?b") == [f"{tmp_path}/a-b"]
    assert _found(f"{tmp_path}/a[-_]b") == [f"{tmp_path}/a-b"]


def test_one_level_patterns_list_only_the_folders_they_name(tmp_path, listed):
    root = _tree(tmp_path)
    _found(f"{root}/*.jpg")
    assert listed == [str(root)]
    listed.clear()
    _found(f"{root}/*/*.jpg")
    assert sorted(listed) == sorted([str(root), f"{root}/a", f"{root}/c", f"{root}/deep"])
    assert f"{root}/deep/x" not in listed


def test_relative_patterns_give_relative_paths(tmp_path, monkeypatch):
    _tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert _found("*.jpg") == ["top.jpg"]
    assert _found("a/**") == ["a/b", "a/b/two.jpg", "a/one.jpg"]


def test_a_folder_means_everything_under_it(tmp_path):
    (tmp_path / "f.jpg").write_bytes(b"x")
    assert local_pattern(str(tmp_path)) == f"{tmp_path}/**"
    assert local_pattern(f"{tmp_path}/") == f"{tmp_path}/**"
    assert local_pattern(f"{tmp_path}/f.jpg") == f"{tmp_path}/f.jpg"
    assert local_pattern(f"{tmp_path}/*") == f"{tmp_path}/*"
