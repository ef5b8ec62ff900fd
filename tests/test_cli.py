"""``bbgen report`` command line: outputs, --help, one-line errors with non-zero exit."""
from __future__ import annotations

import json
import os
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


def _error(argv, capsys) -> str:
    assert main([*argv, *FAST]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def _voc_xml(path: Path, objects: str = "") -> None:
    path.write_text(f"<annotation><size><width>100</width><height>80</height></size>{objects}</annotation>")


def test_voc_without_objects_names_the_folder_and_what_is_missing(tmp_path, capsys):
    for i in range(3):
        _voc_xml(tmp_path / f"{i}.xml")
    err = _error(["report", str(tmp_path), "--out", str(tmp_path / "R")], capsys)
    assert str(tmp_path) in err and "<object>" in err and "3 .xml files" in err
    assert "counts must be" not in err


def test_coco_without_images_names_the_file(tmp_path, capsys):
    f = tmp_path / "noimg.json"
    f.write_text(json.dumps({"images": [], "annotations": [], "categories": [{"id": 1, "name": "a"}]}))
    err = _error(["report", str(f), "--out", str(tmp_path / "R")], capsys)
    assert "noimg.json" in err and "'images' is empty" in err and "ann has" not in err


def test_coco_without_categories_names_the_file(tmp_path, capsys):
    f = tmp_path / "nocat.json"
    f.write_text(json.dumps({"images": [{"id": 1, "width": 5, "height": 5}], "annotations": [], "categories": []}))
    err = _error(["report", str(f), "--out", str(tmp_path / "R")], capsys)
    assert "nocat.json" in err and "'categories' is empty" in err


@pytest.mark.parametrize("case,flag", [("json_classes", "--classes"), ("json_split", "--split"),
                                       ("yolo_no_names", "--classes"), ("voc_unknown_class", "--classes")])
def test_errors_name_cli_flags_not_python_arguments(case, flag, tmp_path, capsys):
    coco = tmp_path / "a.json"
    coco.write_text(json.dumps({"images": [{"id": 1, "width": 5, "height": 5}], "annotations": [],
                                "categories": [{"id": 1, "name": "a"}]}))
    yolo = tmp_path / "yolo"
    yolo.mkdir()
    (yolo / "img1.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    voc = tmp_path / "voc"
    voc.mkdir()
    _voc_xml(voc / "1.xml", "<object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax>"
                            "<ymax>9</ymax></bndbox></object>")
    argv = {"json_classes": [str(coco), "--classes", "x,y"], "json_split": [str(coco), "--split", "val"],
            "yolo_no_names": [str(yolo), "--format", "yolo"], "voc_unknown_class": [str(voc), "--classes", "dog"]}[case]
    err = _error(["report", *argv, "--out", str(tmp_path / "R")], capsys)
    assert flag in err, err
    assert "classes=" not in err and "split=" not in err and "format=" not in err, err


def test_cli_message_translates_only_argument_names():
    from bbgen.cli import cli_message

    assert cli_message("pass classes= or add classes.txt") == "pass --classes or add classes.txt"
    assert cli_message("out_dir x: bad; pass force=True") == "--out x: bad; pass --force"
    assert cli_message("cannot detect the format: num_classes") == "cannot detect the format: num_classes"
    assert cli_message("anchors must be one of ['rpn']") == "--anchors must be one of ['rpn']"
    assert cli_message("the anchors must overlap") == "the anchors must overlap"


_IMPORTS = """
import contextlib, io, sys
from bbgen.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        code = main(sys.argv[1:])
    except SystemExit as e:
        code = e.code
print(code, sorted(m for m in ("torch", "matplotlib", "numba", "scipy", "PIL") if m in sys.modules))
"""


@pytest.mark.parametrize("argv,code", [(["--help"], 0), (["report", "--help"], 0), (["report", "MISSING.json"], 1),
                                       (["report", "--batch-size", "0"], 2)])
def test_help_and_early_errors_import_no_heavy_module(argv, code, tmp_path):
    """Issue #14 item 11: start-up cost is imports; --help and input errors must not pay for torch."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    run = subprocess.run([sys.executable, "-c", _IMPORTS, *argv], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path, env=env)
    assert run.stdout.strip().split(maxsplit=1) == [str(code), "[]"], run.stdout + run.stderr


def test_formats_listed_by_the_cli_are_the_readers():
    from bbgen.cli import _FORMATS
    from bbgen.datasets import FORMATS

    assert _FORMATS == FORMATS


@pytest.mark.parametrize("seed", ["-1", "x"])
def test_bad_seed_names_the_seed_flag_subprocess(seed, tmp_path):
    script = Path(sys.executable).with_name("bbgen")  # the installed console script, when installed
    cmd = [str(script)] if script.is_file() else [sys.executable, "-c",
                                                  "import sys; from bbgen.cli import main; sys.exit(main())"]
    run = subprocess.run([*cmd, "report", "--seed", seed, "--synthetic-images", "5", "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr  # a usage error, before any work (was exit 1 after loading torch)
    assert run.stderr.count("\n") == 1 and "--seed" in run.stderr and repr(seed) in run.stderr, run.stderr
    assert "generator" not in run.stderr and "Traceback" not in run.stderr  # was "generator seed must be ..."
    assert not (tmp_path / "out").exists()


def test_cli_message_names_seed_for_generator_seed_errors():
    from bbgen.cli import cli_message

    assert cli_message("generator seed must be a non-negative int, got -1") == "--seed must be a non-negative int, got -1"
