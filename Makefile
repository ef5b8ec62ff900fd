# Two entry points (see README): `make demo` (main job on the embedded default) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
OUT    ?= bbgen-report

.PHONY: demo test figures bench venv
venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e '.[dev,torchvision]'
	touch $@

demo: venv
	$(VENV)/bin/bbgen report --anchors retinanet --out $(OUT)

figures: venv
	$(PY) analysis/paper_figures.py --out figures

test: venv
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } || echo "warning: chromium not installed; browser test will skip" >&2
	$(PY) -m pytest -n 2 -q
