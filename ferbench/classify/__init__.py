"""The fixed classifiers, the one training loop, and prediction.

Every protocol trains the *same* classifier with the *same* loop on real, synthetic or mixed
images and tests it on real held-out faces; only the training images change. Nothing here
knows where the images came from.

Classifiers (:data:`CLASSIFIERS`, built by :func:`build_classifier`):

``noncomplex-cnn``
    The "noncomplex" CNN of Gholipour Picha et al. (VISAPP 2023): conv32 - conv64 - maxpool -
    dropout(0.25) - conv128 - maxpool - conv128 - maxpool - dropout(0.25) - dense1024 -
    dropout(0.5) - dense K. 3x3 convolutions with same padding and ReLU, 2x2 max-pooling,
    Keras default initialisation (Glorot-uniform weights, zero biases) as in the paper's Keras
    code. It outputs logits; the softmax lives in the loss (and in :func:`predict`). Any
    resolution divisible by 8 works (48 and 64 are the usual ones).
``resnet18``
    torchvision's ResNet-18 (``weights=None``, trained from scratch) with ``channels`` input
    planes and ``num_classes`` outputs. For small inputs (resolution <= 64) the ImageNet stem
    (7x7 stride-2 conv + 3x3 stride-2 max-pool, a 4x down-sampling) would leave a 2x2 map at
    the last stage for 48x48 faces, so the stem is replaced, as is usual for CIFAR-sized
    images, by a 3x3 stride-1 conv and no max-pool.

The training loop (:func:`train_classifier`) keeps the whole uint8 training set as one tensor
on the device and builds each batch with batched tensor ops: index, random translation
(zero-padded random crop), horizontal flip, conversion to float, brightness/contrast jitter,
normalisation to [-1, 1]. There is no ``Dataset``/``DataLoader``, no PIL and no per-image
Python code; on a 2-core CPU this is what makes training several times faster than the usual
ImageFolder pipeline (see ``benchmarks/README.md``).

Reproducibility: a run is a function of ``(images, labels, seed, config)``. Weight
initialisation and dropout use the global torch RNG, seeded with ``seed`` inside a
:func:`torch.random.fork_rng` block so the caller's RNG state is left untouched; shuffling and
augmentation draw from their own :class:`torch.Generator`. On CPU two runs with the same seed
give bit-identical weights (with the same number of threads and the same ``amp``). On CUDA,
cuDNN kernels are not bit-reproducible; the numbers agree statistically, not bitwise.

Mixed precision: ``amp="auto"`` means bf16 autocast on CUDA devices that support it, and on
CPUs whose oneDNN has native bf16 kernels (AVX512-BF16/AMX); elsewhere fp32. Weights and the
optimiser state stay fp32 either way. The resolved choice is recorded on the returned model
as ``model.ferbench_train_info`` so that it can be stored with the scores.

Layout: :mod:`.models` (the classifiers and :data:`CLASSIFIERS`, a
:class:`ferbench.registry.Registry` that plugins extend through the ``ferbench.classifiers``
entry-point group), :mod:`.config` (:class:`TrainConfig`, :func:`train_config`, device choices)
and :mod:`.loop` (batches, augmentation, optimiser, :func:`train_classifier`, :func:`predict`).
"""

from __future__ import annotations

from ferbench.classify.config import TrainConfig, resolve_amp, resolve_channels_last, train_config
from ferbench.classify.loop import predict, train_classifier
from ferbench.classify.models import (
    CLASSIFIERS,
    NoncomplexCNN,
    build_classifier,
    classifier_names,
)

__all__ = [
    "CLASSIFIERS",
    "NoncomplexCNN",
    "TrainConfig",
    "build_classifier",
    "classifier_names",
    "predict",
    "resolve_amp",
    "resolve_channels_last",
    "train_classifier",
    "train_config",
]
