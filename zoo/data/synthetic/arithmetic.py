"""Arithmetic problems and their answers: the offline default data of the seq2seq recipe.

``"37+485" -> "522"``: every answer is determined by its problem, so exact match measures
whether a model learnt the algorithm (carries included), and with a million distinct 3-digit
problems a validation seed is almost entirely unseen during training.
"""
from __future__ import annotations

import torch

from ._seed import check_index, check_size, item_random

OPERATORS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


class ArithmeticPairs(torch.utils.data.Dataset):
    """``size`` pairs ``(source, target)`` such as ``("37+485", "522")``.

    Each operand has 1 to ``max_digits`` digits (the count drawn uniformly, then the number, so
    short operands are as common as long ones); the operator is drawn from ``operators``
    (``"+"`` by default; ``"-"`` gives negative answers such as ``"-448"``, ``"*"`` longer ones).
    The characters used are ``alphabet``.
    """

    def __init__(self, size: int, *, seed: int = 0, max_digits: int = 3, operators: str = "+") -> None:
        check_size("ArithmeticPairs", size)
        if not isinstance(max_digits, int) or not 1 <= max_digits <= 18:
            raise ValueError(f"ArithmeticPairs: max_digits must be an int from 1 to 18, got {max_digits!r}")
        unknown = sorted(set(operators) - set(OPERATORS))
        if not operators or unknown:
            raise ValueError(f"ArithmeticPairs: operators must be a non-empty string of {''.join(OPERATORS)!r}, "
                             f"got {operators!r}")
        self.size, self.seed, self.max_digits = size, seed, max_digits
        self.operators = "".join(dict.fromkeys(operators))  # unique, in the order given
        self.alphabet = "0123456789" + "".join(sorted(self.operators))  # "-" also signs negative answers

    def __len__(self) -> int:
        return self.size

    def _operand(self, rng) -> int:
        digits = rng.randint(1, self.max_digits)
        return rng.randrange(10 ** (digits - 1) if digits > 1 else 0, 10 ** digits)

    def __getitem__(self, index: int) -> tuple[str, str]:
        index = check_index("ArithmeticPairs", index, self.size)
        rng = item_random(self.seed, index, salt=2)
        a, b = self._operand(rng), self._operand(rng)
        op = rng.choice(self.operators)
        return f"{a}{op}{b}", str(OPERATORS[op](a, b))

    def __repr__(self) -> str:
        return (f"ArithmeticPairs(size={self.size}, seed={self.seed}, max_digits={self.max_digits}, "
                f"operators={self.operators!r})")
