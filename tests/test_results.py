"""The results format (generalization/reporting/results.py): files that follow it load as typed
records and write back as the same data, old files still load, a broken file is one line naming
the file and the key, and results_schema.md documents every field of every record."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from pathlib import Path

import pytest

from generalization.reporting import results as results_format
from generalization.reporting.report import write_report
from generalization.reporting.results import SCHEMA, Results, ResultsError, load_results
from rasp.errors import RaspError
from test_report import FIXTURE, fixture_results

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DOC = ROOT / "generalization" / "reporting" / "results_schema.md"


def broken(edit) -> dict:
    results = copy.deepcopy(fixture_results())
    edit(results)
    return results


@pytest.mark.parametrize("results, key, reason", [
    (broken(lambda r: r["runs"][0]["lengths"][3].pop("exact_match")),
     "runs[0].lengths[3].exact_match", "missing"),
    (broken(lambda r: r.update(schema="rasp-generalization/0")),
     "schema", 'expected "rasp-generalization/1", got "rasp-generalization/0"'),
    (broken(lambda r: r.pop("schema")), "schema", "missing"),
    (broken(lambda r: r["runs"][0].update(fitted=None)), "runs[0].fitted",
     "expected a list, got null"),
    (broken(lambda r: r.pop("timings")), "timings", "missing"),
    (broken(lambda r: r["runs"][1].update(fitted="yes")), "runs[1].fitted", "expected a list"),
    (broken(lambda r: r["task"].update(train_lengths=[5, 1])), "task.train_lengths",
     "low <= high"),
    (broken(lambda r: r["runs"][0]["train"].update(steps=[1, True, 3])), "runs[0].train.steps[1]",
     "expected an integer, got true"),
    (broken(lambda r: r["runs"][1]["lengths"][0]["exact_match"].pop()),
     "runs[1].lengths[0].exact_match", "expected 3 values (one per seed), got 2"),
    ([], "(top level)", "expected an object"),
])
def test_broken_results_name_the_file_and_key(tmp_path: Path, results: object, key: str,
                                              reason: str) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results), encoding="utf-8")
    with pytest.raises(ResultsError) as caught:
        load_results(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {key}: ")
    assert reason in message and "\n" not in message


def test_invalid_json_is_located(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text('{\n  "schema": "rasp-generalization/1"\n  "created": 1\n}', encoding="utf-8")
    with pytest.raises(RaspError) as caught:
        load_results(path)
    assert str(caught.value) == f"{path}:3:3: not valid JSON: Expecting ',' delimiter"


def test_missing_results_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match=re.escape(str(tmp_path / "results.json"))):
        write_report(tmp_path)


def test_fixture_follows_the_schema() -> None:
    assert load_results(FIXTURE).schema == SCHEMA


def test_results_round_trip_to_the_same_data() -> None:
    data = fixture_results()
    assert load_results(FIXTURE).to_dict() == data
    assert Results.from_dict(data).to_dict() == data


def bundled_results(in_context: bool) -> list[Path]:
    """The bundled results.json files of program-labelled runs, or of in-context runs."""
    return [path for path in sorted((ROOT / "examples" / "reports").rglob("results.json"))
            if ('"schema": "rasp-in-context-results/' in path.read_text(encoding="utf-8"))
            == in_context]


@pytest.mark.parametrize("path", bundled_results(in_context=False),
                         ids=lambda path: path.parent.name)
def test_every_bundled_results_file_loads_and_round_trips(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert load_results(path).to_dict() == data


def documented_keys() -> dict[str, set[str]]:
    """The keys each `### record` section of results_schema.md lists in its table."""
    sections: dict[str, set[str]] = {}
    current = None
    for line in SCHEMA_DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            heading = re.match(r"#+ .*\((\w+)\)\s*$", line)
            current = sections.setdefault(heading[1], set()) if heading else None
        elif current is not None and line.startswith("| `"):
            current.update(re.findall(r"`(\w+)`", line.split("|")[1]))
    return sections


def test_results_schema_md_documents_every_field_of_every_record() -> None:
    documented = documented_keys()
    records = [cls for cls in vars(results_format).values()
               if isinstance(cls, type) and dataclasses.is_dataclass(cls)
               and cls.__module__ == results_format.__name__]
    assert records, "no record classes found"
    for cls in records:
        fields = {field.name for field in dataclasses.fields(cls)}
        assert cls.__name__ in documented, f"results_schema.md has no section for {cls.__name__}"
        assert documented[cls.__name__] == fields, cls.__name__
