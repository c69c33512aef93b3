"""The conformance kit: the guarantees every built-in card passes, runnable on any card, family or task.

    from zoo import testing
    testing.check_card("my-model")                      # every check, every task that fits
    testing.check_task("my-task", card="bert-tiny")     # the per-task checks of one task
    testing.check_family(MY_FAMILY)                     # a family without a card
    testing.check_key_map(ours, reference, (ids,), {"attention_mask": mask}, output=lambda o: o.logits)

In a plugin's tests, one parametrized test runs every check as its own case::

    import pytest
    from zoo import testing

    @pytest.mark.parametrize("case", testing.cases(distribution="my-plugin"), ids=str)
    def test_conformance(case):
        case.run()

The checks (`CHECKS`; each raises `ConformanceError` saying what broke): ``forward_backward``,
``deterministic``, ``interface`` and ``save_load`` for every task that fits; ``padding`` (text), ``causal`` and
``kv_cache`` (decoders), ``grad_checkpointing``, ``compile`` (fullgraph), ``export`` (every
task) and ``export_dynamic``. They run on the family's ``smoke_overrides`` (a tiny config), so
a card is checked in seconds. The project's own registry-wide tests are these cases.
"""
from .cases import BY_NAME, CHECKS, Case, Check, cards_of, cases, check_card, check_family, check_task
from .key_map import check_key_map
from .subject import Batch, ConformanceError, Subject, for_card, for_family

__all__ = ["BY_NAME", "CHECKS", "Batch", "Case", "Check", "ConformanceError", "Subject", "cards_of", "cases",
           "check_card", "check_family", "check_key_map", "check_task", "for_card", "for_family"]
