"""``bbgen report`` command line: outputs, --help, one-line errors with non-zero exit."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bbgen.cli import main

FAST = ["--num-batches", "20", "--no-progress"]


def test_default_is_synthetic_report(tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["report", "--out", str(out), "--synthetic-images", "120", *FAST]) == 0
    data = json.loads((out / "report.json").read_text())
    assert data["synthetic"] is True
    assert data["sections"]["dataset"]["numbers"]["num_images"] == 120
    assert str(out / "index.html") in capsys.readouterr().out


def test_real_voc_dataset(shared_data, tmp_path):
    out = tmp_path / "bccd"
    assert main(["report", str(shared_data / "bccd"), "--split", "test", "--out", str(out), *FAST]) == 0
    numbers = json.loads((out / "report.json").read_text())["sections"]["dataset"]["numbers"]
    assert numbers["num_images"] == 72 and numbers["synthetic"] is False


def test_help_lists_options(capsys):
    with pytest.raises(SystemExit) as info:
        main(["report", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for option in ("DATASET", "--format", "--out", "--batch-size"):
        assert option in text


@pytest.mark.parametrize("argv,expected", [
    (["report", "MISSING.json"], "MISSING.json: not found"),
    (["report", "--format", "coco"], "--format needs a DATASET"),
    (["report", "--batch-size", "0"], "expected a positive integer"),
    (["report", "x", "--format", "csv"], "invalid choice"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_one_line_error(argv, expected, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        code = main(argv)
    except SystemExit as e:  # argparse usage errors
        code = e.code
    assert code != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err and "Traceback" not in err
    assert not (tmp_path / "bbgen-report").exists()


def test_console_script_truncated_json_subprocess(tmp_path):
    bad = tmp_path / "instances.json"
    bad.write_text('{"images": [{"id": 1, "width"')
    script = Path(sys.executable).with_name("bbgen")  # the installed console script, when installed
    cmd = [str(script)] if script.is_file() else [sys.executable, "-c",
                                                  "import sys; from bbgen.cli import main; sys.exit(main())"]
    run = subprocess.run([*cmd, "report", str(bad), "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1 and "instances.json: not valid JSON" in run.stderr
    assert not (tmp_path / "out").exists()


def test_xml_bomb_rejected_by_cli(tmp_path, capsys):
    (tmp_path / "a.xml").write_text('<?xml version="1.0"?><!DOCTYPE z [<!ENTITY a "aaaa">]>'
                                    "<annotation><filename>&a;</filename></annotation>")
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "out"), *FAST]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a.xml: unsafe XML rejected" in err


def test_real_coco_json_taco(shared_data, tmp_path):
    out = tmp_path / "taco"
    assert main(["report", str(shared_data / "taco" / "annotations.json"), "--out", str(out), *FAST]) == 0
    data = json.loads((out / "report.json").read_text())
    assert data["synthetic"] is False and data["title"].endswith("annotations.json")
    numbers = data["sections"]["classes"]["numbers"]
    assert numbers["num_instances"] == 4784 and numbers["most_frequent_class"] == "Cigarette"
