"""The model checks: each takes a `Subject` and raises `ConformanceError` saying what broke.

Every check builds its own model on the subject's tiny spec, so checks are independent and
can run in any order or alone.
"""
from __future__ import annotations

import tempfile
from typing import Any

import torch
from torch import Tensor

from .subject import Batch, ConformanceError, Subject, fresh_pair, take_rows

ATOL = 1e-5
BATCH = 2  # rows in every example batch (`fresh_pair`)


def _close(a: Tensor, b: Tensor, atol: float = ATOL, rtol: float = 1e-4) -> bool:
    return a.shape == b.shape and torch.allclose(a.float(), b.float(), atol=atol, rtol=rtol)


def _diff(a: Tensor, b: Tensor) -> str:
    if a.shape != b.shape:
        return f"shapes {list(a.shape)} and {list(b.shape)}"
    return f"max abs difference {float((a.float() - b.float()).abs().max()):.3g}"


def _fail(subject: Subject, what: str) -> ConformanceError:
    return ConformanceError(f"{subject}: {what}")


def forward_backward(subject: Subject) -> None:
    """The task's forward is finite with the batch first, and its loss (or, without one, the outputs)
    sends a gradient to every trainable parameter."""
    model, batch = fresh_pair(subject)
    out = model.train()(*batch.inputs, **batch.extras)
    if out.shape[0] != BATCH:
        raise _fail(subject, f"the output's first dimension is {out.shape[0]}, not the batch size {BATCH}")
    if not torch.isfinite(out).all():
        raise _fail(subject, "the output has NaN or infinite values")
    loss = model.loss(out, batch.targets) if batch.targets is not None else out.float().square().mean()
    if loss.dim() != 0 or not torch.isfinite(loss):
        raise _fail(subject, f"the loss must be a finite scalar, got {loss}")
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    if missing:
        raise _fail(subject, f"{len(missing)} parameters get no gradient (unused, or cut from the graph): "
                             f"{', '.join(missing[:8])}")


def deterministic(subject: Subject) -> None:
    """The same seed builds the same weights; in eval mode the same input gives the same output, and a
    row's output does not depend on the other rows of its batch."""
    model, batch = fresh_pair(subject)
    twin, _ = fresh_pair(subject)
    differing = [k for (k, a), b in zip(model.state_dict().items(), twin.state_dict().values()) if not torch.equal(a, b)]
    if differing:
        raise _fail(subject, f"two builds under the same seed differ in {', '.join(differing[:8])}")
    model.eval()
    with torch.no_grad():
        first, second = model(*batch.inputs, **batch.extras), model(*batch.inputs, **batch.extras)
        alone = model(*take_rows(batch.inputs, slice(0, 1)), **take_rows(batch.extras, slice(0, 1)))
    if not torch.equal(first, second):
        raise _fail(subject, f"two forwards of the same input differ in eval mode ({_diff(first, second)})")
    row = first[tuple(slice(0, 1) if d in _batch_dims(model) else slice(None) for d in range(first.dim()))]
    if not _close(alone, row):
        raise _fail(subject, f"row 0 alone differs from row 0 in a batch of {len(first)} ({_diff(alone, row)}): "
                             "the output depends on the other rows")


def _batch_dims(model: Any) -> tuple[int, ...]:
    """The output dimensions that follow the batch (pairwise scores: rows and columns)."""
    return tuple(getattr(model.head, "output_batch_dims", (0,)))


def interface(subject: Subject) -> None:
    """``forward_features`` gives features [..., num_features], and ``forward_head`` of them (with
    ``feature_mask``) equals ``forward``: the timm-style split holds for the task."""
    model, batch = fresh_pair(subject)
    model.eval()
    with torch.no_grad():
        whole = model(*batch.inputs, **batch.extras)
        features = model.forward_features(*batch.inputs, **batch.extras)
        split = model.forward_head(features, attention_mask=model.feature_mask(*batch.inputs, **batch.extras))
    widths = {f.shape[-1] for f in (features if isinstance(features, tuple) else (features,)) if f is not None}
    if widths != {model.num_features}:
        raise _fail(subject, f"forward_features gave features of width {sorted(widths)}, but num_features is "
                             f"{model.num_features}")
    if not _close(split, whole):
        raise _fail(subject, f"forward_head(forward_features(x), attention_mask=feature_mask(x)) differs from "
                             f"forward(x) ({_diff(split, whole)})")


def save_load(subject: Subject) -> None:
    """``reset_classifier`` (for heads with a classifier to reset; others raise ValueError saying why) then `zoo.save` / `zoo.load` give the same model:
    spec, task, every saved tensor and the outputs."""
    import zoo

    model, batch = fresh_pair(subject)
    if model.num_classes > 0:
        try:
            model.reset_classifier(7)
        except ValueError:  # the head's classes are fixed by something else (a CTC vocabulary): it says so
            pass
        else:
            if model.num_classes != 7 or getattr(model.spec, "num_classes", 7) != 7:
                raise _fail(subject, "reset_classifier(7) did not set num_classes to 7 on the model and its spec")
    model.eval()
    with tempfile.TemporaryDirectory() as directory:
        zoo.save(model, directory)
        loaded = zoo.load(directory).eval()
    if (loaded.spec, loaded.task, loaded.family) != (model.spec, model.task, model.family):
        raise _fail(subject, f"zoo.load rebuilt {loaded.family}/{loaded.task} {loaded.spec}, saved "
                             f"{model.family}/{model.task} {model.spec}")
    ours, theirs = model.state_dict(), loaded.state_dict()
    changed = [k for k in ours if k not in theirs or not torch.equal(ours[k], theirs[k])]
    if changed:
        raise _fail(subject, f"tensors differ after zoo.save / zoo.load: {', '.join(changed[:8])}")
    with torch.no_grad():
        before, after = model(*batch.inputs, **batch.extras), loaded(*batch.inputs, **batch.extras)
    if not torch.equal(before, after):
        raise _fail(subject, f"outputs differ after zoo.save / zoo.load ({_diff(before, after)}): state that "
                             "is not saved (a non-persistent buffer that is not rebuilt, an attribute) changed them")


def _with_padding(batch: Batch, extra: int, left: bool) -> Batch:
    """The batch with ``extra`` padding columns (ids 1, mask 0) before (``left``) or after every tensor
    aligned with the attention_mask (the source side; decoder inputs keep their length)."""
    mask = batch.extras["attention_mask"]

    def pad(value: Any, name: str) -> Any:
        if not isinstance(value, Tensor) or value.shape != mask.shape or name.startswith("decoder"):
            return value
        filler = value.new_full((*value.shape[:-1], extra), 0 if name in ("attention_mask", "token_type_ids") else 1)
        return torch.cat([filler, value] if left else [value, filler], dim=-1)

    return Batch(tuple(pad(v, "input_ids") for v in batch.inputs),
                 {k: pad(v, k) for k, v in batch.extras.items()}, batch.targets)


def padding(subject: Subject) -> None:
    """Masked padding changes nothing (text models with an attention_mask): padding columns (on the left for
    decoders, which generate from left-padded prompts; on the right otherwise) leave every real token's
    features as they were, and the example's padded row equals the same tokens alone, unpadded."""
    subject = subject.with_tower("text") if "text" in subject.towers() else subject.with_task("feature-extraction")
    model, batch = fresh_pair(subject)
    if "attention_mask" not in batch.extras:
        raise _fail(subject, "the family's example inputs have no attention_mask to check padding with")
    model.eval()
    mask = batch.extras["attention_mask"]
    left, extra, real = subject.architecture == "decoder", 3, int(mask[-1].sum())
    padded = _with_padding(batch, extra, left)
    with torch.no_grad():
        plain = model(*batch.inputs, **batch.extras)
        wider = model(*padded.inputs, **padded.extras)
        alone = model(*(v[-1:, :real] for v in batch.inputs),
                      **{k: (v[-1:, :real] if v.shape == mask.shape else v[-1:])
                         for k, v in batch.extras.items() if k != "attention_mask"})
    aligned = plain.shape[1] == mask.shape[1]  # features per source token (encoders, decoders), else the target's
    if aligned:
        keep = mask.bool()[..., None]  # [B, T, 1]
        wider = wider[:, extra:] if left else wider[:, :mask.shape[1]]
        plain, wider = plain * keep, wider * keep
    if not _close(plain, wider):
        raise _fail(subject, f"{extra} padding columns on the {'left' if left else 'right'} (mask 0) changed the "
                             f"real tokens' features ({_diff(plain, wider)}): is the attention_mask applied (to "
                             "attention and to positions)?")
    row = plain[-1:, :real] if aligned else plain[-1:]
    if not _close(row, alone):
        raise _fail(subject, f"the padded last row differs from the same {real} tokens alone without padding "
                             f"({_diff(row, alone)})")


def causal(subject: Subject) -> None:
    """Decoders: changing the last (decoder) token leaves every earlier output unchanged, and changes the last."""
    subject = subject.with_task("feature-extraction")
    model, batch = fresh_pair(subject)
    model.eval()
    key = "decoder_input_ids" if subject.architecture == "encoder-decoder" else None
    ids = batch.extras[key] if key else batch.inputs[0]
    changed = ids.clone()
    changed[:, -1] = (changed[:, -1] + 1) % model.spec.vocab_size
    changed[:, -1] += changed[:, -1] == 0  # stay off id 0 (often padding)
    with torch.no_grad():
        before = model(*batch.inputs, **batch.extras)
        after = (model(*batch.inputs, **{**batch.extras, key: changed}) if key
                 else model(changed, *batch.inputs[1:], **batch.extras))
    if not _close(before[:, :-1], after[:, :-1], atol=1e-6):
        raise _fail(subject, f"changing the last token changed earlier outputs ({_diff(before[:, :-1], after[:, :-1])}): "
                             "the model looks ahead")
    if _close(before[:, -1], after[:, -1], atol=1e-6):
        raise _fail(subject, "changing the last token did not change its own output")


def kv_cache(subject: Subject) -> None:
    """Decoders: decoding one token at a time through the KV caches equals recomputing the whole sequence,
    and `generate` (greedy, cached) picks the tokens a full forward would."""
    backbone_subject = subject.with_task("feature-extraction")
    model, batch = fresh_pair(backbone_subject)
    backbone = model.eval().backbone
    ids = batch.inputs[0]
    with torch.no_grad():
        if subject.architecture == "encoder-decoder":
            source = {k: v for k, v in batch.extras.items() if not k.startswith("decoder_")}
            memory, source_mask = backbone.encode_inputs(*batch.inputs, **source)
            target = batch.extras["decoder_input_ids"]
            full = backbone.decode(target, memory, memory_mask=source_mask)
            caches = backbone.make_caches(len(target), target.shape[1], context_len=memory.shape[1])
            steps = [backbone.decode(target[:, t:t + 1], memory, memory_mask=source_mask, caches=caches)
                     for t in range(target.shape[1])]
        else:
            full = backbone(ids)
            caches = backbone.make_caches(len(ids), ids.shape[1])
            prefix = ids.shape[1] // 2
            steps = [backbone(ids[:, :prefix], caches=caches)]
            steps += [backbone(ids[:, t:t + 1], caches=caches) for t in range(prefix, ids.shape[1])]
    stepwise = torch.cat(steps, dim=1)
    if not _close(stepwise, full):
        raise _fail(backbone_subject, f"decoding through the KV caches differs from recomputing the sequence "
                                      f"({_diff(stepwise, full)})")
    for lm_task in GENERATING_TASKS:
        if subject.fits(lm_task):
            _generate_matches_recomputation(subject.with_task(lm_task), batch)


GENERATING_TASKS = ("causal-lm", "seq2seq-lm", "speech-to-text")  # tasks whose models generate()


def _generate_matches_recomputation(subject: Subject, batch: Batch, new_tokens: int = 4) -> None:
    model, _ = fresh_pair(subject)
    model.eval()
    ids = batch.inputs[0][:1]  # one unpadded row
    source = {"attention_mask": batch.extras["attention_mask"][:1]} if "attention_mask" in batch.extras else {}
    with torch.no_grad():  # nothing suppressed: a full forward's argmax may pick any token
        generated = model.generate(ids, max_new_tokens=new_tokens, suppress_tokens=[], begin_suppress_tokens=[],
                                   **source)
        if subject.architecture == "encoder-decoder":
            target = generated[:, :-new_tokens]  # the decoder prompt (a start token, or a task's prompt)
            for _ in range(new_tokens):
                logits = model(ids, decoder_input_ids=target, **source)
                target = torch.cat([target, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
            expected = target
        else:
            expected = ids
            for _ in range(new_tokens):
                expected = torch.cat([expected, model(expected)[:, -1].argmax(-1, keepdim=True)], dim=1)
    if not torch.equal(generated[:, -new_tokens:], expected[:, -new_tokens:]):
        raise _fail(subject, f"generate picked {generated[0, -new_tokens:].tolist()}, a full forward per step "
                             f"picks {expected[0, -new_tokens:].tolist()}")


def grad_checkpointing(subject: Subject) -> None:
    """``set_grad_checkpointing()`` keeps under half the activation bytes for backward, and the same gradients."""
    model, batch = fresh_pair(subject)
    model.train()

    def run() -> tuple[int, dict[str, Tensor]]:
        saved: list[int] = []

        def pack(tensor: Tensor) -> Tensor:
            saved.append(tensor.numel() * tensor.element_size())
            return tensor

        model.zero_grad(set_to_none=True)
        torch.manual_seed(3)  # the same dropout masks in both runs
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            loss = model(*batch.inputs, **batch.extras).float().square().mean()
        forward_bytes = sum(saved)
        loss.backward()
        return forward_bytes, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    plain_bytes, plain = run()
    model.set_grad_checkpointing(True)
    checkpointed_bytes, checkpointed = run()
    if checkpointed_bytes >= 0.5 * plain_bytes:
        raise _fail(subject, f"with grad checkpointing autograd kept {checkpointed_bytes} bytes, without "
                             f"{plain_bytes}: expected under half")
    if plain.keys() != checkpointed.keys():
        raise _fail(subject, "grad checkpointing changed which parameters get gradients")
    wrong = [k for k in plain if not _close(checkpointed[k], plain[k], atol=1e-6)]
    if wrong:
        raise _fail(subject, f"grad checkpointing changed the gradients of {', '.join(wrong[:8])}")
