"""Dataset elements and their targets as one type, without TensorFlow.

One job: unpacking what a dataset (or Keras `fit`) hands a consumer. An element is `(L_enc, target)`;
the target is the encoded ab, or `{"ab": ab_enc, "scene": labels}` for a model with a scene head.
`Targets(ab, extras)` is that target as one type: `Targets.of(target)` unpacks either form (the only
place that does), `Targets.keras()` packs it back. Plain Python, so that the GAN's train step reads
its batches through it on any Keras backend; `data.targets` (the encoding, on TensorFlow) re-exports
it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

AB_KEY = "ab"
"""Name of the colour target (and of the models' colour output) when a target is a dict."""
SCENE_KEY = "scene"
"""Name of the scene-label target (Iizuka et al.'s classification head)."""


class Targets(NamedTuple):
    """One element's (or batch's) targets: the encoded ab and any extra targets by name.

    Attributes:
        ab: encoded ab `[..., H, W, 2]`.
        extras: other targets by output name, e.g. `{"scene": int32 labels}`; empty for most models.
    """

    ab: Any
    extras: Mapping[str, Any] = MappingProxyType({})

    @classmethod
    def of(cls, target) -> "Targets":
        """Unpacks a target as the datasets yield it: encoded ab, or `{"ab": ..., **extras}`."""
        if isinstance(target, Mapping):
            return cls(target[AB_KEY], {k: v for k, v in target.items() if k != AB_KEY})
        return cls(target, {})

    @property
    def scene(self):
        """The scene labels, or None."""
        return self.extras.get(SCENE_KEY)

    def keras(self):
        """The target as Keras `fit` expects it: ab alone, or `{"ab": ab, **extras}`."""
        return {AB_KEY: self.ab, **self.extras} if self.extras else self.ab


def split_element(element) -> tuple[Any, Targets]:
    """A dataset element `(L_enc, target)` -> `(L_enc, Targets)`."""
    return element[0], Targets.of(element[1])
