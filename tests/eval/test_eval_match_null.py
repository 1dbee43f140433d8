from eval import match_null


def test_the_null_tail_table_counts_random_payloads_above_each_threshold(capsys):
    (row,) = match_null.tail_table([0.5], payloads=300_000, seed=1)
    assert row["payloads"] == 300_000 and row["decoder_fails"] == 1.0        # too weak for the decoder
    expected = row["normal"][4.0]                                           # about 9.5 payloads past z 4
    assert 0 < row["above"][4.0] < 4 * expected and row["above"][4.0] >= row["above"][5.5]
    assert 0 < row["summed"][6.0] < 1.0          # beside a weak mark the summed tail is lighter than the normal
    assert match_null.main(["--payloads", "250000", "--strengths", "0"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("| other mark | decoder fails | z > 4: seen / normal")
    assert table[2].startswith("| 0 | 100% | ")
