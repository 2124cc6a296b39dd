"""`load "name";` brings another file's public names into a program.

The file is `name.rasp`, looked up beside the loading file, then on the search path
(`rasp.load(path, search_path=[...])`), never outside those folders. Names starting with
`_` stay private to their file. Mistakes (a missing file, a path escaping its folder, a
file that loads itself) are located errors, and a file loaded twice in a session runs once.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

import rasp
from rasp.program import Workspace

LIBRARY = """
_flip = select(indices, length - indices - 1, ==);
def my_reverse(seq) {
    return aggregate(_flip, seq);
}
reversed_tokens = my_reverse(tokens);
_secret = 42;
"""


def write(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


# ------------------------------------------------------------------ finding the file


def test_load_finds_a_file_beside_the_loading_file(project: Path):
    write(project, "mylib.rasp", LIBRARY)
    main = write(project, "main.rasp", 'load "mylib";\nout = my_reverse(indices);\n')
    program = rasp.load(main)
    assert program.run("out", ["abc"]) == [[2, 1, 0]]
    assert program.run("reversed_tokens", ["abc"]) == [["c", "b", "a"]]


def test_load_accepts_the_rasp_extension(project: Path):
    write(project, "mylib.rasp", LIBRARY)
    main = write(project, "main.rasp", 'load "mylib.rasp";\nout = my_reverse(tokens);\n')
    assert rasp.load(main).run("out", ["ab"]) == [["b", "a"]]


def test_load_finds_a_file_on_the_search_path(tmp_path: Path, project: Path):
    libraries = tmp_path / "libraries"
    write(libraries, "mylib.rasp", LIBRARY)
    main = write(project, "main.rasp", 'load "mylib";\nout = my_reverse(tokens);\n')
    program = rasp.load(main, search_path=[libraries])
    assert program.run("out", ["xyz"]) == [["z", "y", "x"]]


def test_load_from_source_text_uses_the_search_path(tmp_path: Path):
    libraries = tmp_path / "libraries"
    write(libraries, "mylib.rasp", LIBRARY)
    program = rasp.loads('load "mylib";\nout = my_reverse(tokens);\n', search_path=[libraries])
    assert program.run("out", ["ab"]) == [["b", "a"]]


def test_a_program_pickles_with_its_loads_for_worker_processes(tmp_path: Path, project: Path):
    libraries = tmp_path / "libraries"
    write(libraries, "mylib.rasp", LIBRARY)
    main = write(project, "main.rasp", 'load "mylib";\nout = my_reverse(tokens);\n')
    copy = pickle.loads(pickle.dumps(rasp.load(main, search_path=[libraries])))
    assert copy.run("out", ["xyz"]) == [["z", "y", "x"]] and copy.path == main.resolve()


def test_load_prefers_the_file_beside_the_loader(tmp_path: Path, project: Path):
    libraries = tmp_path / "libraries"
    write(libraries, "choice.rasp", "which = indices * 0 + 2;\n")
    write(project, "choice.rasp", "which = indices * 0 + 1;\n")
    main = write(project, "main.rasp", 'load "choice";\nout = which;\n')
    assert rasp.load(main, search_path=[libraries]).run("out", ["a"]) == [[1]]


def test_load_searches_the_search_path_in_order(tmp_path: Path, project: Path):
    first, second = tmp_path / "first", tmp_path / "second"
    write(first, "choice.rasp", "which = indices * 0 + 1;\n")
    write(second, "choice.rasp", "which = indices * 0 + 2;\n")
    main = write(project, "main.rasp", 'load "choice";\nout = which;\n')
    assert rasp.load(main, search_path=[second, first]).run("out", ["a"]) == [[2]]


def test_load_of_a_subfolder_inside_the_folder(project: Path):
    write(project, "sub/mylib.rasp", LIBRARY)
    main = write(project, "main.rasp", 'load "sub/mylib";\nout = my_reverse(tokens);\n')
    assert rasp.load(main).run("out", ["ab"]) == [["b", "a"]]


def test_loaded_file_loads_beside_itself(tmp_path: Path, project: Path):
    libraries = tmp_path / "libraries"
    write(libraries, "inner.rasp", "inner_value = indices + 10;\n")
    write(libraries, "outer.rasp", 'load "inner";\nouter_value = inner_value + 1;\n')
    main = write(project, "main.rasp", 'load "outer";\nout = outer_value;\n')
    assert rasp.load(main, search_path=[libraries]).run("out", ["ab"]) == [[11, 12]]


# ------------------------------------------------------------------ public and private names


def test_public_names_become_visible(project: Path):
    write(project, "mylib.rasp", LIBRARY)
    main = write(project, "main.rasp", 'load "mylib";\nmine = indices;\n')
    program = rasp.load(main)
    visible = program.scope.visible_names()
    assert {"my_reverse", "reversed_tokens"} <= visible
    assert not {"_flip", "_secret"} & visible


def test_using_a_private_name_is_an_unknown_name_error(project: Path):
    write(project, "mylib.rasp", LIBRARY)
    main = write(project, "main.rasp", 'load "mylib";\nout = aggregate(_flip, tokens);\n')
    with pytest.raises(rasp.RaspNameError) as caught:
        rasp.load(main)
    message = str(caught.value)
    assert "_flip" in message
    assert "main.rasp:2:" in message


def test_private_plain_value_is_hidden_too(project: Path):
    write(project, "mylib.rasp", LIBRARY)
    main = write(project, "main.rasp", 'load "mylib";\nout = indices + _secret;\n')
    with pytest.raises(rasp.RaspNameError, match="_secret"):
        rasp.load(main)


def test_private_names_are_not_sops_of_the_program(project: Path):
    write(project, "mylib.rasp", LIBRARY)
    program = rasp.load(project / "mylib.rasp")
    for name in ("_flip", "_secret", "_reversed_tokens"):
        with pytest.raises(rasp.RaspNameError, match=f"defines no s-op `{name}`"):
            program.sop(name)
    with pytest.raises(rasp.RaspNameError) as caught:
        program.run("_reversed_tokens", ["ab"])
    assert caught.value.hint == "did you mean `reversed_tokens`?"


def test_private_names_of_the_loader_stay_usable_in_its_own_file(project: Path):
    write(project, "mylib.rasp", LIBRARY)
    main = write(project, "main.rasp", '_mine = indices + 1;\nload "mylib";\nout = _mine;\n')
    assert rasp.load(main).run("out", ["ab"]) == [[1, 2]]


# ------------------------------------------------------------------ refused and failing loads


def test_path_escaping_the_folder_is_refused_with_a_location(tmp_path: Path, project: Path):
    write(tmp_path, "secret.rasp", "stolen = indices;\n")
    main = write(project, "main.rasp", 'x = indices;\nload "../secret";\nout = stolen;\n')
    with pytest.raises(rasp.RaspError) as caught:
        rasp.load(main)
    message = str(caught.value)
    assert "main.rasp:2:1" in message
    assert "../secret" in message


def test_path_escaping_the_search_path_is_refused(tmp_path: Path, project: Path):
    libraries = tmp_path / "libraries"
    libraries.mkdir()
    write(tmp_path, "secret.rasp", "stolen = indices;\n")
    with pytest.raises(rasp.RaspError, match="secret"):
        rasp.loads('load "../secret";\n', search_path=[libraries])


def test_absolute_path_is_refused(tmp_path: Path, project: Path):
    secret = write(tmp_path, "secret.rasp", "stolen = indices;\n")
    main = write(project, "main.rasp", f'load "{secret.with_suffix("").as_posix()}";\n')
    with pytest.raises(rasp.RaspError) as caught:
        rasp.load(main)
    assert "main.rasp:1:1" in str(caught.value)


def test_missing_file_is_a_located_error(project: Path):
    main = write(project, "main.rasp", 'x = indices;\n\nload "nowhere";\n')
    with pytest.raises(rasp.RaspError) as caught:
        rasp.load(main)
    message = str(caught.value)
    assert "main.rasp:3:1" in message
    assert "nowhere.rasp" in message


def test_missing_main_file_is_an_error(project: Path):
    with pytest.raises(rasp.RaspError, match="no such file"):
        rasp.load(project / "absent.rasp")


def test_missing_main_file_is_named_as_given(project: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(project)
    with pytest.raises(rasp.RaspError) as caught:
        rasp.load("missing.rasp")
    assert str(caught.value) == "missing.rasp: no such file"


def test_file_that_loads_itself_is_an_error_not_a_hang(project: Path):
    main = write(project, "selfish.rasp", 'x = indices;\nload "selfish";\n')
    with pytest.raises(rasp.RaspError) as caught:
        rasp.load(main)
    assert "selfish" in str(caught.value)
    assert "loads itself" in str(caught.value)


def test_files_that_load_each_other_are_an_error(project: Path):
    write(project, "ping.rasp", 'load "pong";\nping = indices;\n')
    write(project, "pong.rasp", 'load "ping";\npong = indices;\n')
    main = write(project, "main.rasp", 'load "ping";\n')
    with pytest.raises(rasp.RaspError, match="loads itself"):
        rasp.load(main)


def test_error_inside_a_loaded_file_names_that_file(project: Path):
    write(project, "broken.rasp", "fine = indices;\nbad = unknown_thing + 1;\n")
    main = write(project, "main.rasp", 'load "broken";\n')
    with pytest.raises(rasp.RaspNameError) as caught:
        rasp.load(main)
    assert "broken.rasp:2:7" in str(caught.value)


# ------------------------------------------------------------------ loading once


def test_loading_the_same_file_twice_runs_it_once(project: Path, monkeypatch):
    write(project, "mylib.rasp", LIBRARY)
    write(project, "other.rasp", 'load "mylib";\nother = my_reverse(indices);\n')
    main = write(project, "main.rasp",
                 'load "mylib";\nfirst = reversed_tokens;\nload "other";\nload "mylib";\n'
                 "second = reversed_tokens;\n")
    runs: list[str] = []
    original = Workspace.load_source

    def counting(self, source, filename, path):
        runs.append(Path(path).name)
        return original(self, source, filename, path)

    monkeypatch.setattr(Workspace, "load_source", counting)
    program = rasp.load(main)
    assert runs.count("mylib.rasp") == 1
    assert runs.count("other.rasp") == 1
    variables = program.scope.variables
    # one run, so the very same s-op both times
    assert variables["first"] is variables["second"]
    assert program.run("other", ["abc"]) == [[2, 1, 0]]


def test_sessions_do_not_share_loaded_files(project: Path):
    lib = write(project, "mylib.rasp", "value = indices + 1;\n")
    main = write(project, "main.rasp", 'load "mylib";\nout = value;\n')
    assert rasp.load(main).run("out", ["a"]) == [[1]]
    lib.write_text("value = indices + 2;\n", encoding="utf-8")
    assert rasp.load(main).run("out", ["a"]) == [[2]]
