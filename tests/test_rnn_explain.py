"""a3lab.rnn.explain: the text of `a3lab rnn run`, from the numbers alone."""

from a3lab.rnn.explain import DERIVATION, closed_form_lines, explanation, fmt, verdict_line


def test_explanation_of_the_write_ups_example() -> None:
    text = explanation([1, 2, 3, 4], 0, [1, 1, 2, 2], [1.0, 1.0, 1.0, 1.0], 2, 500)
    lines = text.splitlines()
    assert lines[0].split() == ["t", "x_t", "h_t", "y_t"]
    assert lines[1].split() == ["0", "0"] and lines[5].split() == ["4", "4", "2", "1.0000"]
    assert lines[6] == "" and lines[7] == "closed form: h_4 = x_4 - x_3 + x_2 - x_1 + h_0"
    assert lines[-1].endswith("so y_4 = sigmoid(500 * 2) = 1.0000: about 1")
    assert DERIVATION not in text
    assert explanation([1], 0, [1], [1.0], 1, 500, derivation=True).startswith(DERIVATION + "\n")


def test_odd_length_flips_the_signs_and_moves_h0_to_the_other_side() -> None:
    assert closed_form_lines([1, 2, 3], -2, 4, 4)[:2] == [
        "closed form: h_3 = x_3 - x_2 + x_1 - h_0",
        "           = 3 - 2 + 1 - (-2) = 4",
    ]
    line = verdict_line([1, 2, 3], -2, 4, 2, 0.9997)
    assert "odd-position inputs = 4 > even-position inputs + h_0 = 0" in line and line.endswith("about 1")


def test_a_disagreement_is_said_and_numbers_read_naturally() -> None:
    assert closed_form_lines([1, 2], 0, 1, 1.5)[2].endswith("(DIFFERS with the closed form)")
    assert (fmt(3.0), fmt(-0.5), fmt(1e20)) == ("3", "-0.5", "100000000000000000000")
    assert "0.5 (a tie)" in verdict_line([2, 2], 0, 0, 500, 0.5)
