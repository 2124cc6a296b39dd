"""Experiment configs: good files parse with their defaults, and every bad one is refused up front
with a message that names the file, the section and the key.

Most refusals are checked on parsed TOML handed to `config_from_dict` (what `load_config` does
after `tomllib`), one case per rule; file-level behaviour (syntax errors, missing files, paths
relative to the config file, the bundled examples) on real files.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import pytest

import rasp
from generalization.config import (ConfigError, EvaluationSection, ExperimentConfig,
                                   ModelSection, TrainConfig, config_from_dict, load_config,
                                   parse_length_range, quick_config)
from generalization.tasks import Uniform

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = ROOT / "examples" / "experiments"
REVERSE = ROOT / "examples" / "reverse.rasp"


def base() -> dict:
    return {"task": {"program": str(REVERSE), "sop": "reverse", "vocab": "abc",
                     "train_lengths": [1, 4], "test_lengths": [5, 8]}}


def load(data: dict, base_dir: Path = ROOT) -> ExperimentConfig:
    return config_from_dict(data, "exp.toml", base_dir, default_name="exp")


def with_value(section: str | None, key: str, value) -> dict:
    data = copy.deepcopy(base())
    table = data
    for part in section.split(".") if section else ():
        table = table.setdefault(part, {})
    table[key] = value
    return data


# ------------------------------------------------------------------------------ good configs


def test_a_minimal_config_gets_every_default():
    config = load(base())
    assert config.name == "exp" and config.path is None
    assert config.task.program == REVERSE and config.task.vocab == ("a", "b", "c")
    assert config.task.train_lengths == (1, 4) and config.task.test_lengths == (5, 8)
    assert config.task.causal is False and config.task.sampler == Uniform()
    assert config.model == ModelSection()
    assert config.training == TrainConfig() and config.evaluation == EvaluationSection()


def test_max_position_defaults_to_twice_the_longest_test_length():
    data = with_value("task", "test_lengths", [5, 40])
    assert load(data).model.max_position == 80


def test_vocab_may_be_a_list_of_tokens_in_the_given_order():
    assert load(with_value("task", "vocab", [3, 1, 2])).task.vocab == (3, 1, 2)


def test_sampler_options_reach_the_sampler():
    data = with_value("task", "sampler", {"name": "dyck", "imbalance": 1})
    data["task"]["vocab"] = "()"
    sampler = load(data).task.sampler
    assert (sampler.name, sampler.imbalance) == ("dyck", 1.0)


@pytest.mark.parametrize("path", sorted(EXPERIMENTS.glob("*.toml")), ids=lambda p: p.stem)
def test_bundled_experiments_load_and_round_trip(path):
    config = load_config(path)
    assert config.name == path.stem and config.path == path
    assert config.task.program.is_file() and config.task.program.parent == ROOT / "examples"
    data = config.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert config_from_dict(data, "results.json", Path("/"), path=path) == config


@pytest.mark.parametrize("name, sop", [("reverse", "reverse"), ("hist", "hist"),
                                       ("sort", "sort_tokens"), ("parity", "parity")])
def test_headline_experiments_share_everything_but_the_task(name, sop):
    config = load_config(EXPERIMENTS / f"{name}.toml")
    reference = load_config(EXPERIMENTS / "reverse.toml")
    assert config.task.sop == sop
    assert config.model.positions == ("learned", "nope", "rope", "randomized")
    assert config.training.seeds == (0, 1, 2)
    assert (config.task.train_lengths, config.task.test_lengths) == ((1, 10), (11, 20))
    assert (config.model, config.training, config.evaluation) == \
        (reference.model, reference.training, reference.evaluation)


def test_program_paths_are_relative_to_the_config_file(tmp_path, monkeypatch):
    (tmp_path / "programs").mkdir()
    shutil.copy(REVERSE, tmp_path / "programs" / "rev.rasp")
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "exp.toml").write_text(
        '[task]\nprogram = "../programs/rev.rasp"\nsop = "reverse"\nvocab = "ab"\n'
        'train_lengths = [1, 3]\ntest_lengths = [4, 6]\n')
    monkeypatch.chdir(ROOT)
    config = load_config(tmp_path / "configs" / "exp.toml")
    assert config.task.program == tmp_path / "programs" / "rev.rasp"
    assert config.name == "exp"


# ------------------------------------------------------------------------------- bad configs

BAD = [
    # (section, key, value, what the message says after "exp.toml: [section] key: ")
    (None, "name", "a b", "must be a name of letters"),
    (None, "nmae", "x", "unknown key (hint: did you mean `name`?)"),
    (None, "trainig", {"steps": 3}, "unknown section (hint: did you mean `training`?)"),
    (None, "task", "reverse.toml", "must be a table"),
    ("task", "program", "no_such.rasp", "no such file: "),
    ("task", "program", 3, "must be a non-empty string, got 3"),
    ("task", "sop", "revers", "defines no s-op `revers` (hint: did you mean `reverse`?)"),
    ("task", "vocab", "", "must be a non-empty string"),
    ("task", "vocab", [1, "a"], "cannot mix token types"),
    ("task", "vocab", "aba", 'lists the token "a" twice'),
    ("task", "vocab", [[1]], "tokens must be numbers, strings or booleans"),
    ("task", "vocabulary", "abc", "unknown key (hint: did you mean `vocab`?)"),
    ("task", "train_lengths", [0, 4], "lengths must be at least 1"),
    ("task", "train_lengths", [4, 1], "lo must not exceed hi, got [4, 1]"),
    ("task", "train_lengths", [1], "must be an inclusive range [lo, hi]"),
    ("task", "train_lengths", "1-4", "must be an inclusive range [lo, hi]"),
    ("task", "test_lengths", [4, 8], "must start after the training lengths end (4)"),
    ("task", "test_lengths", [2, 3], "must start after the training lengths end (4)"),
    ("task", "causal", "no", "must be true or false"),
    ("task", "sampler", "unique", "must be a table"),
    ("task.sampler", "name", "unifrom", "unknown sampler `unifrom` (hint: did you mean"),
    ("task.sampler", "name", "unique", "`unique` needs inputs no longer than the vocabulary"),
    ("task.sampler", "imbalance", 0.5, "the `uniform` sampler has no option `imbalance`"),
    ("model", "layers", 0, 'must be "matching" or a positive integer, got 0'),
    ("model", "layers", "match", 'must be "matching" or a positive integer, got "match"'),
    ("model", "heads", -1, 'must be "matching" or a positive integer'),
    ("model", "width", 0, "must be a positive integer, got 0"),
    ("model", "mlp_width", -1, "must be a non-negative integer, got -1"),
    ("model", "positions", ["rope", "absolute"], 'unknown position encoding "absolute"'),
    ("model", "positions", ["rop"], "(hint: did you mean `rope`?)"),
    ("model", "positions", "rope", "must be a non-empty list of position encodings"),
    ("model", "positions", [], "must be a non-empty list of position encodings"),
    ("model", "positions", ["rope", "rope"], "lists an encoding twice"),
    ("model", "max_position", 7, "must be at least the longest test length (8), got 7"),
    ("model", "max_position", 0, "must be a positive integer, got 0"),
    ("model", "dropout", 0.1, "unknown key (hint: [model] takes: layers, heads"),
    ("training", "steps", -3, "must be a positive integer, got -3"),
    ("training", "steps", 1.5, "must be a positive integer, got 1.5"),
    ("training", "steps", True, "must be a positive integer, got true"),
    ("training", "batch_size", 0, "must be a positive integer"),
    ("training", "learning_rate", 0, "must be a positive number, got 0"),
    ("training", "learning_rate", "fast", 'must be a positive number, got "fast"'),
    ("training", "warmup_steps", -1, "must be a non-negative integer"),
    ("training", "warmup_steps", 2000, "must be less than [training] steps (2000)"),
    ("training", "weight_decay", -0.1, "must be a non-negative number"),
    ("training", "grad_clip", 0, "must be a positive number"),
    ("training", "seeds", [], "must be a non-empty list of non-negative integers"),
    ("training", "seeds", [-1], "must be a non-empty list of non-negative integers"),
    ("training", "seeds", 3, "must be a non-empty list of non-negative integers"),
    ("training", "seeds", [0, 0], "lists a seed twice"),
    ("training", "seeds", [0, 7919], "must not include 7919: that seed's training batches"),
    ("training", "checkpoint_every", 0, "must be a positive integer"),
    ("training", "eval_every", 0, "must be a positive integer"),
    ("training", "fit_threshold", 1.5, "must be a number in (0, 1]"),
    ("training", "fit_threshold", 0, "must be a number in (0, 1]"),
    ("evaluation", "examples_per_length", 0, "must be a positive integer"),
    ("evaluation", "counterexamples", -1, "must be a non-negative integer"),
    ("evaluation", "counterexample_budget", 0, "must be a positive integer"),
    ("evaluation", "examples_per_lenght", 9, "unknown key (hint: did you mean `examples_per_l"),
]


@pytest.mark.parametrize("section, key, value, fragment", BAD,
                         ids=[f"{s}.{k}={v!r}" for s, k, v, _ in BAD])
def test_bad_values_are_refused_naming_file_section_and_key(section, key, value, fragment):
    with pytest.raises(ConfigError) as caught:
        load(with_value(section, key, value))
    error = caught.value
    if isinstance(value, dict):
        place = f"[{key}]"
    else:
        place = f"[{section}] {key}" if section else key
    assert str(error).startswith(f"exp.toml: {place}: ")
    assert fragment in str(error)
    assert isinstance(error, rasp.RaspError)
    assert (error.section, error.key) == (section, key)


def test_the_example_message_of_the_spec_is_exact():
    with pytest.raises(ConfigError) as caught:
        load(with_value("training", "steps", -3))
    assert str(caught.value) == "exp.toml: [training] steps: must be a positive integer, got -3"


def test_width_must_split_evenly_into_heads():
    data = with_value("model", "heads", 3)
    with pytest.raises(ConfigError, match=re.escape("[model] width: must be divisible by "
                                                    "[model] heads (3), got 64")):
        load(data)


def test_rope_needs_an_even_head_size():
    data = with_value("model", "heads", 2)
    data["model"].update(width=6, positions=["rope"])
    with pytest.raises(ConfigError, match=re.escape("[model] width: RoPE rotates pairs")):
        load(data)
    data["model"]["positions"] = ["nope"]
    assert load(data).model.width == 6


def test_the_default_name_is_the_file_stem_made_safe():
    assert config_from_dict(base(), "x", ROOT, default_name="my exp").name == "my_exp"


@pytest.mark.parametrize("key", ["program", "sop", "vocab", "train_lengths", "test_lengths"])
def test_required_task_keys(key):
    data = base()
    del data["task"][key]
    with pytest.raises(ConfigError, match=re.escape(f"exp.toml: [task] {key}: missing "
                                                    f"(hint: add `{key} = ...` to [task])")):
        load(data)


def test_missing_task_section():
    with pytest.raises(ConfigError, match=re.escape("exp.toml: task: missing (hint: add a "
                                                    "[task] table)")):
        load({})


def test_program_errors_are_reported_under_the_program_key(tmp_path):
    (tmp_path / "bad.rasp").write_text("x = select(;\n")
    with pytest.raises(ConfigError, match=r"^exp\.toml: \[task\] program: .*bad\.rasp:1:\d+: "):
        load(with_value("task", "program", "bad.rasp"), base_dir=tmp_path)


def test_toml_syntax_errors_are_located(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text('[task]\nsop = "reverse"\nvocab = = "abc"\n')
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}:3:9: invalid TOML: "):
        load_config(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.toml")


# ------------------------------------------------------------------ command line quick form


def test_quick_config_takes_ranges_as_text_and_overrides_by_key(monkeypatch):
    monkeypatch.chdir(ROOT)
    config = quick_config("examples/reverse.rasp", "reverse", "abcdefghij", "1-5", (6, 10),
                          steps=50, warmup_steps=5, positions=["rope"], sampler="unique",
                          counterexamples=0)
    assert config.name == "reverse" and config.task.program == REVERSE
    assert config.task.sampler.name == "unique"
    assert (config.task.train_lengths, config.task.test_lengths) == ((1, 5), (6, 10))
    assert config.training.steps == 50 and config.model.positions == ("rope",)
    assert config.evaluation.counterexamples == 0


def test_quick_config_errors_name_the_setting(monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.raises(ConfigError, match=re.escape("command line: unknown setting `step` "
                                                    "(hint: did you mean `steps`?)")):
        quick_config("examples/reverse.rasp", "reverse", "abc", "1-5", "6-10", step=5)
    with pytest.raises(ConfigError, match=re.escape("command line: [model] positions: unknown")):
        quick_config("examples/reverse.rasp", "reverse", "abc", "1-5", "6-10",
                     positions=["absolute"])


@pytest.mark.parametrize("text, expected", [("1-10", (1, 10)), (" 3 - 7 ", (3, 7)),
                                            ("5", (5, 5))])
def test_parse_length_range(text, expected):
    assert parse_length_range(text) == expected


@pytest.mark.parametrize("text", ["10-1", "a-b", "0-3", "", "1-", "1..10", "-3"])
def test_parse_length_range_refuses(text):
    with pytest.raises(ConfigError, match="^--train-len: must"):
        parse_length_range(text, "--train-len")


# ------------------------------------------------------------------ --set


def test_set_changes_a_config_as_its_file_would():
    config = load_config(EXPERIMENTS / "quick.toml", [
        "training.steps=50", "model.positions=[\"rope\"]", "task.train_lengths=[1, 4]",
        "evaluation.examples_per_length = 8", "task.sampler.name=uniform"])
    assert config.training.steps == 50 and config.model.positions == ("rope",)
    assert config.task.train_lengths == (1, 4) and config.evaluation.examples_per_length == 8
    assert load_config(EXPERIMENTS / "quick.toml").training.steps == 300   # the file is as was


def test_the_default_folder_of_another_setting_is_another_folder():
    from command_line.generalizing import default_run_folder

    plain = load_config(EXPERIMENTS / "quick.toml")
    changed = load_config(EXPERIMENTS / "quick.toml", ["training.steps=50"])
    assert default_run_folder(plain, quick=False) == Path("runs") / "quick"
    folders = {default_run_folder(config, quick=True) for config in (plain, changed)}
    assert len(folders) == 2 and all(f.name.startswith("quick-") for f in folders)
    assert default_run_folder(changed, quick=True) == default_run_folder(
        load_config(EXPERIMENTS / "quick.toml", ["training.steps=50"]), quick=True)
