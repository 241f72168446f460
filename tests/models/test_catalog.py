"""The catalog of every image-text model type (models/catalog.py): complete for the installed
transformers, consistent with the registry, the source of the load errors and of README's table."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from layerdream.errors import UserError
from layerdream.models import catalog
from layerdream.models.registry import ADAPTERS, adapter_for

ROOT = Path(__file__).resolve().parents[2]


def test_every_type_of_the_installed_transformers_is_classified():
    missing = catalog.unclassified()
    assert not missing, ("model types of the installed transformers' MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES that "
                         "models/catalog.py does not classify; read " + ", ".join(map(catalog.modeling_file, missing)))


def test_a_new_type_counts_as_unclassified():
    mapping = catalog.installed_mapping() | {"brand_new_vl": "BrandNewVLForConditionalGeneration"}
    assert catalog.unclassified(mapping) == ["brand_new_vl"]
    assert catalog.counts(mapping)[catalog.UNCLASSIFIED] == 1
    [row] = [r for r in catalog.rows(mapping) if r["model_type"] == "brand_new_vl"]
    assert row["status"] == catalog.UNCLASSIFIED and "modeling_brand_new_vl.py" in row["note"]


def test_classes_match_the_installed_mapping():
    mapping = catalog.installed_mapping()
    wrong = {t: (e.cls, mapping[t]) for t, e in catalog.CATALOG.items() if t in mapping and mapping[t] != e.cls}
    assert not wrong


def test_supported_means_an_adapter_is_registered():
    supported = {t for t, e in catalog.CATALOG.items() if e.status == catalog.SUPPORTED}
    assert supported == set(ADAPTERS)
    assert all(e.image_tokens for e in catalog.CATALOG.values() if e.status == catalog.SUPPORTED)
    assert all(e.note and "\n" not in e.note for e in catalog.CATALOG.values())


@pytest.mark.parametrize("model_type,why", [("chameleon", "VQ"), ("florence2", "encoder-decoder"),
                                            ("idefics", "cross-attention"), ("mllama", "cross-attention")])
def test_refused_types_get_their_reason_in_one_line(model_type, why):
    with pytest.raises(UserError, match=f"not an adapter-based VLM: .*{why}") as err:
        adapter_for(model_type)
    assert "\n" not in str(err.value)


def test_not_yet_types_say_the_method_applies():
    # any not-yet type (a fixed example kept being supported by the next landing)
    model_type = next(t for t, e in sorted(catalog.CATALOG.items()) if e.status == catalog.NOT_YET)
    with pytest.raises(UserError, match=f"'{model_type}' .*not supported yet: the method applies .*docs/adding-a-model.md"):
        adapter_for(model_type)


def test_an_unknown_type_names_its_modeling_file_through_load(tmp_path):
    import layerdream as ld

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "mamba"}))
    with pytest.raises(UserError, match="not classified; supported families: .*modeling_mamba.py.*docs/adding-a-model.md"):
        ld.load(str(tmp_path))


def test_readme_table_is_generated_from_the_catalog():
    readme = (ROOT / "README.md").read_text()
    assert catalog.markdown() in readme, "README's families table is stale: run python scripts/families_table.py"


def test_text_table_lists_every_row():
    rows = catalog.rows()
    text = catalog.render_text(rows)
    assert len(text.splitlines()) == len(rows) + 1
    assert all(row["model_type"] in text for row in rows)


def test_families_command_lists_refusals_with_their_reason(capsys):
    from layerdream.cli import main

    assert main(["families", "--status", "refused"]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()[1:]
    assert len(lines) == sum(e.status == catalog.REFUSED for e in catalog.CATALOG.values())
    assert any(line.startswith("mllama") and "cross-attention" in line for line in lines)


def test_families_command_csv_has_every_type(capsys):
    import csv
    import io

    from layerdream.cli import main

    assert main(["families", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["model_type"] for r in rows} >= set(catalog.installed_mapping())
    assert {r["status"] for r in rows} <= {catalog.SUPPORTED, catalog.REFUSED, catalog.NOT_YET, catalog.UNCLASSIFIED}
    import transformers

    assert {r["transformers_version"] for r in rows} == {transformers.__version__}  # the release it describes


def test_families_command_json_names_the_release(capsys):
    import json

    import transformers

    from layerdream.cli import main

    assert main(["families", "--format", "json", "--status", "refused"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["versions"]["transformers"] == transformers.__version__ and out["versions"]["layerdream"]
    assert {r["status"] for r in out["families"]} == {catalog.REFUSED}


def test_ld_families_is_a_dataframe_of_the_same_rows():
    import layerdream as ld

    df = ld.families()
    assert set(df.index) == {r["model_type"] for r in catalog.rows()}
    assert df.loc["qwen2_vl", "status"] == catalog.SUPPORTED and df.loc["qwen2_vl", "image_tokens"].startswith("256")
    assert set(ld.families("not-yet")["status"]) == {catalog.NOT_YET}
    import transformers

    assert df.attrs["versions"]["transformers"] == transformers.__version__
    with pytest.raises(UserError, match="unknown status"):
        ld.families("maybe")


def test_help_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys\nfrom layerdream.cli import main\ntry:\n    main(['families', '--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch imported by --help'")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
