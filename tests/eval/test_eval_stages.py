"""``python -m eval.stages``: an unmarked file's detect, stage by stage, against decoding it."""

import json

import watermark as wm
from eval import stages


def test_every_stage_of_an_unmarked_files_detect_is_timed_in_the_detectors_order(photo_dir, capsys):
    assert stages.main(["--images", str(photo_dir), "--size", "800x600", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["files"] == 2 and result["size"] == [800, 600]
    assert list(result["ms"]) == ["decode", *stages.STAGES, "detect"]
    assert all(ms > 0 for ms in result["ms"].values())        # each stage ran (CPU time in ns steps)
    photo = next(photo_dir.iterdir())
    assert list(stages._stages(photo, wm.Key.from_passphrase("order"))) == list(stages.STAGES)


def test_the_table_runs_a_total_in_units_of_the_decode(capsys):
    times = {"decode": 10.0, **{stage: 5.0 for stage in stages.STAGES}, "detect": 44.0}
    stages.print_table(times, 3, (1920, 1080))
    lines = capsys.readouterr().out.splitlines()
    assert lines[4] == "| decode to luma | 5.0 | 5.0 | 0.5 |"
    assert lines[-2] == "| read of the dewarped view | 5.0 | 45.0 | 4.5 |"
    assert lines[-1] == "| whole detect_file, for comparison | 44.0 | | 4.4 |"
