# make demo : set up .venv if needed, then synthetic world -> train -> map -> K-fertilizer doses
#             and Pb risk classes
# make test : set up .venv if needed, then lint and the whole test suite (what CI runs)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.geosoil-installed

export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: demo test lint format venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: this takes the local CPU build instead of the CUDA one.
	$(BIN)/python -m pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/geosoil synth --out demo/world --size small --seed 0 --overwrite
	$(BIN)/geosoil train configs/demo/train.yaml --overwrite
	$(BIN)/geosoil map configs/demo/map.yaml --overwrite
	$(BIN)/geosoil recommend k-fertilizer configs/demo/recommend.yaml --overwrite
	$(BIN)/geosoil train configs/pb/demo_train_pb.yaml --overwrite
	$(BIN)/geosoil train configs/pb/demo_train_ph.yaml --overwrite
	$(BIN)/geosoil recommend pb-risk configs/pb/demo_risk.yaml --overwrite
	@echo "demo done: open demo/map/kex_cmol_kg.tif and demo/recommend/map/dose_k2o_kg_ha.tif in QGIS;"
	@echo "           per-field doses in demo/recommend/fields.csv; report in demo/train/report/report.md;"
	@echo "           Pb risk classes in demo/pb/risk/map/pb_risk_class.tif, areas in demo/pb/risk/risk_summary.csv"

lint: $(STAMP)
	$(BIN)/ruff check geosoil tests benchmarks
	$(BIN)/ruff format --check geosoil tests benchmarks

test: lint
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

format: $(STAMP)
	$(BIN)/ruff check --fix geosoil tests benchmarks
	$(BIN)/ruff format geosoil tests benchmarks

clean:
	rm -rf demo .pytest_cache .ruff_cache
