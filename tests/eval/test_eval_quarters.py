"""``python -m eval.quarters``: the keyed read at the true lattice of a quarter, beside detect's."""

import numpy as np
from PIL import Image

from eval import contenders, quarters
from tests.photos import photo


def test_a_calm_quarter_reads_at_its_true_lattice_and_by_the_search_alike(tmp_path, capsys):
    picture = np.asarray(Image.fromarray(photo("astronaut")).resize((1536, 1024), Image.Resampling.LANCZOS))
    rows = quarters.quarters(picture, contenders.bench_key(0))
    assert [row["corner"] for row in rows] == ["top-left", "bottom-right"]
    assert all(row["keyed_payload"] and row["keyed_z"] > 6 for row in rows)     # the lattice given is the mark's
    assert rows[0]["detect_found"] and abs(rows[0]["detect_z"] - rows[0]["keyed_z"]) < 2
    Image.fromarray(picture).save(tmp_path / "astronaut.png")
    assert quarters.main(["--images", str(tmp_path)]) == 0
    assert capsys.readouterr().out.count("| astronaut.png |") == 2
