"""Untrusted input: every malformed file gives one AnnotationFormatError naming the file and problem."""
from __future__ import annotations

import json

import pytest

from bbgen.datasets import AnnotationFormatError, load

GOOD = {"images": [{"id": 1, "width": 10, "height": 10}], "categories": [{"id": 1, "name": "a"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2], "iscrowd": 0}]}


def _with(**changes) -> dict:
    data = json.loads(json.dumps(GOOD))
    for dotted, value in changes.items():
        key, _, field = dotted.partition("__")
        if field:
            data[key][0][field] = value
        else:
            data[key] = value
    return data


COCO_CASES = [
    (_with(annotations__category_id=5), "unknown category_id 5"),
    (_with(annotations__image_id=99), "unknown image_id 99"),
    (_with(annotations__bbox=[0, 0, "2", 2]), "bbox must be 4 numbers"),
    (_with(annotations__bbox=[0, 0, 2]), "bbox must be 4 numbers"),
    (_with(annotations__iscrowd=2), "iscrowd/ignore 2"),
    (_with(images__width=-5), "positive numeric width/height"),
    (_with(images__height="480"), "positive numeric width/height"),
    (_with(images__id=[1]), "images\\[0\\].id must be an integer or string"),
    (_with(categories__id="1"), "categories\\[0\\].id must be an integer"),
    (_with(categories=[{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]), "duplicate category id 1"),
    (_with(images=[{"id": 1, "width": 1, "height": 1}, {"id": 1, "width": 1, "height": 1}]), "duplicate image id"),
    (_with(annotations={"0": 1}), "'annotations' must be a list"),
    ({"images": []}, "'annotations' must be a list \\(missing\\)"),
    ([1, 2, 3], "top level must be a JSON object"),
    (_with(annotations=[7]), "annotations\\[0\\] must be an object"),
    (_with(annotations__image_id=[1]), "annotations\\[0\\].image_id must be an integer or string, got \\[1\\]"),
    (_with(annotations__image_id=True), "annotations\\[0\\].image_id must be an integer or string, got True"),
    (_with(annotations__category_id={"a": 1}), "annotations\\[0\\].category_id must be an integer"),
    (_with(annotations__category_id=1.0), "annotations\\[0\\].category_id must be an integer, got 1.0"),
]


@pytest.mark.parametrize("data,problem", COCO_CASES)
def test_coco_structural_errors_name_file_and_problem(tmp_path, data, problem):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(AnnotationFormatError, match=problem) as info:
        load(path, format="coco")
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("text,problem", [
    ('{"images": [{"id": 1, "width": 10', "truncated or malformed"),
    ("", "truncated or malformed"),
    ("[" * 100000 + "]" * 100000, "nesting is too deep|truncated or malformed"),
])
def test_json_syntax_errors(tmp_path, text, problem):
    path = tmp_path / "broken.json"
    path.write_text(text)
    with pytest.raises(AnnotationFormatError, match=problem):
        load(path)


def test_non_utf8_json(tmp_path):
    path = tmp_path / "latin.json"
    path.write_bytes(b'{"images": "\xff\xfe"}')
    with pytest.raises(AnnotationFormatError, match="latin.json"):
        load(path)


def test_missing_files_and_unknown_format(tmp_path):
    with pytest.raises(AnnotationFormatError, match="not found"):
        load(tmp_path / "nope.json")
    with pytest.raises(AnnotationFormatError, match="file not found"):
        load(tmp_path / "nope.json", format="coco")
    (tmp_path / "x.csv").write_text("a,b")
    with pytest.raises(AnnotationFormatError, match="cannot detect the format"):
        load(tmp_path / "x.csv")
    with pytest.raises(ValueError, match="format must be one of"):
        load(tmp_path / "x.csv", format="pascal")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AnnotationFormatError, match="cannot detect the format"):
        load(tmp_path / "empty")
    with pytest.raises(AnnotationFormatError, match="no .xml"):
        load(tmp_path / "empty", format="voc")


VOC_OK = """<annotation><size><width>100</width><height>80</height></size>
<object><name>cat</name><difficult>{d}</difficult><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>{x2}</xmax>
<ymax>40</ymax></bndbox></object></annotation>"""

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<annotation><size><width>&lol3;</width><height>1</height></size></annotation>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE a [<!ENTITY ext SYSTEM "file:///etc/passwd">]>
<annotation><filename>&ext;</filename><size><width>1</width><height>1</height></size></annotation>"""


def test_voc_difficult_is_crowd_and_degenerate_dropped(tmp_path):
    (tmp_path / "a.xml").write_text(VOC_OK.format(d=1, x2=50))
    (tmp_path / "b.xml").write_text(VOC_OK.format(d=0, x2=1))
    ann = load(tmp_path)
    assert ann.crowd.tolist() == [True]
    assert ann.dropped == {"zero_or_negative_size": 1}
    assert ann.image_ids.tolist() == ["a", "b"]


@pytest.mark.parametrize("text,problem", [
    (BILLION_LAUGHS, "unsafe XML rejected"),
    (EXTERNAL_ENTITY, "unsafe XML rejected"),
    ("<annotation><size><width>1", "malformed XML"),
    ("<foo/>", "root element must be <annotation>"),
    ("<annotation><size><width>0</width><height>5</height></size></annotation>", "positive width and height"),
    ("<annotation><size><width>a</width><height>5</height></size></annotation>", "must be a number"),
    ("<annotation><size><height>5</height></size></annotation>", "missing <size/width>"),
    (VOC_OK.format(d=2, x2=5), "<difficult>2</difficult>"),
    (VOC_OK.replace("<name>cat</name>", ""), "has no <name>"),
])
def test_voc_unsafe_or_malformed_xml(tmp_path, text, problem):
    (tmp_path / "img1.xml").write_text(text)
    with pytest.raises(AnnotationFormatError, match=problem) as info:
        load(tmp_path, format="voc")
    assert "img1.xml" in str(info.value)


def test_voc_split_errors(tmp_path):
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations" / "1.xml").write_text(VOC_OK.format(d=0, x2=9))
    (tmp_path / "ImageSets" / "Main").mkdir(parents=True)
    (tmp_path / "ImageSets" / "Main" / "train.txt").write_text("1\r\n2\r\n")
    with pytest.raises(AnnotationFormatError, match="2.xml: listed in train.txt but missing"):
        load(tmp_path, split="train")
    with pytest.raises(AnnotationFormatError, match="split list 'val' not found"):
        load(tmp_path, split="val")
    with pytest.raises(AnnotationFormatError, match="not in the classes= list"):
        load(tmp_path, classes=["dog"])
    with pytest.raises(ValueError, match="split= is only used by the voc and torchcv formats"):
        load(tmp_path / "Annotations" / "1.xml", format="coco", split="train")


@pytest.mark.parametrize("line,problem", [
    ("0 0.5 0.5 0.1", "line 1: expected 5 values"),
    ("0 0.5 0.5 x 0.1", "line 1: not numbers"),
    ("3 0.5 0.5 0.1 0.1", "class id 3 outside \\[0, 1\\)"),
    ("-1 0.5 0.5 0.1 0.1", "class id -1 outside"),
])
def test_yolo_malformed_lines(tmp_path, line, problem):
    (tmp_path / "classes.txt").write_text("a\n")
    (tmp_path / "image_sizes.json").write_text('{"im": [10, 10]}')
    (tmp_path / "im.txt").write_text(line + "\n")
    with pytest.raises(AnnotationFormatError, match=problem) as info:
        load(tmp_path)
    assert "im.txt" in str(info.value)


def test_yolo_missing_sizes_names_and_bad_image(tmp_path):
    (tmp_path / "im.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    with pytest.raises(AnnotationFormatError, match="no class names"):
        load(tmp_path, format="yolo")
    (tmp_path / "classes.txt").write_text("a\n")
    with pytest.raises(AnnotationFormatError, match="no image and no entry in image_sizes.json"):
        load(tmp_path, format="yolo")
    (tmp_path / "im.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(AnnotationFormatError, match="im.jpg: cannot read the image header"):
        load(tmp_path, format="yolo")
    (tmp_path / "image_sizes.json").write_text('{"im": [10]}')
    with pytest.raises(AnnotationFormatError, match="must be \\[width, height\\]"):
        load(tmp_path, format="yolo")


def test_classes_as_one_string_is_refused(tmp_path):
    (tmp_path / "image_sizes.json").write_text('{"im": [10, 10]}')
    (tmp_path / "im.txt").write_text("0 0.5 0.5 0.1 0.1\n2 0.5 0.5 0.2 0.2\n")
    with pytest.raises(TypeError, match="classes must be a sequence of class names, got the string 'cat'"):
        load(tmp_path, classes="cat")  # was three classes 'c', 'a', 't'


def test_coco_from_torchcv_malformed_input(tmp_path):
    from bbgen.datasets import coco_from_torchcv

    (tmp_path / "labels.txt").write_text("a\nb\n")
    sizes = tmp_path / "sizes.json"
    sizes.write_text(json.dumps({"images": [{"id": 1, "file_name": "im.jpg", "width": 9, "height": 9}]}))
    lst = tmp_path / "list.txt"
    for line, problem in [("im.jpg 1 2 3x 4 1", "line 1: not numbers"), ("im.jpg 1 2 3 4 1.5", "labels must be integers"),
                          ("im.jpg 1 2 3 4 2", "labels must be integers in \\[0, 2\\)")]:
        lst.write_text(line + "\n")
        with pytest.raises(AnnotationFormatError, match=problem):
            coco_from_torchcv(lst, sizes, tmp_path / "labels.txt")
    with pytest.raises(AnnotationFormatError, match="nope.txt: cannot read"):
        coco_from_torchcv(tmp_path / "nope.txt", sizes, tmp_path / "labels.txt")
    with pytest.raises(AnnotationFormatError, match="nope.txt: cannot read"):
        coco_from_torchcv(lst, sizes, tmp_path / "nope.txt")
    sizes.write_text(json.dumps({"images": [{"id": 1}]}))
    with pytest.raises(AnnotationFormatError, match="images\\[0\\] must be an object with a string file_name"):
        coco_from_torchcv(lst, sizes, tmp_path / "labels.txt")


@pytest.mark.parametrize("line,problem", [("names: [" + "'a', " * 20_000, "cannot parse names: "),
                                          ("names: '" + "a" * 100_000 + "'", "names must be a list or mapping")])
def test_yolo_unparsable_yaml_names_line_is_clipped(tmp_path, line, problem):
    (tmp_path / "data.yaml").write_text(line + "\n")
    (tmp_path / "image_sizes.json").write_text('{"im": [10, 10]}')
    (tmp_path / "im.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    with pytest.raises(AnnotationFormatError, match=problem) as info:
        load(tmp_path)
    message = str(info.value)
    assert "data.yaml" in message and len(message) < 400 + len(str(tmp_path))  # was the whole ~100 KB line
    assert "characters)" in message
