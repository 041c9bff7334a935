"""toyfaces: ferbench's built-in, offline, procedurally rendered expression data set.

A deterministic renderer draws cartoon-like faces whose geometry is driven by FACS action
units (AUs). Each image is a pure function of ``(split, index, resolution, channels)``, so the
data set is reproducible anywhere and needs no download and no licence.

**Results on toyfaces are a smoke test of the ferbench pipeline, not facial-expression
recognition results.** The faces are drawn from a handful of polygons; a model that does well
here has learned this renderer, not human expressions.

What is rendered
----------------
- *Identity* (from an identity seed): face shape (width, chin height, jaw squareness), skin tone,
  hair style (bald / short / long / fringe) and colour, eye spacing, size and colour, brow
  thickness, height and arch, nose length and width, mouth width and lip thickness, occasional
  glasses and beards (stubble or full), shirt colour.
- *Action units* ``AU_NAMES`` on the 0..5 FACS intensity scale (float) move the geometry:
  AU1 / AU2 raise the inner / outer brows (and wrinkle the forehead), AU4 lowers and knits the
  brows (vertical furrows), AU5 raises the upper lids, AU7 tightens the lids, AU6 raises the
  cheeks (narrowed eyes, cheek bulge, crow's feet), AU9 wrinkles the nose (raised nostril wings,
  nose-root wrinkles, lowered inner brows), AU10 raises the upper lip (exposing teeth), AU12 pulls
  the lip corners out and up, AU15 pulls them down, AU17 pushes the chin and lower lip up,
  AU20 stretches the lips sideways, AU23 tightens / thins the lips, AU25 parts the lips and AU26
  drops the jaw. Nasolabial folds deepen with AU6/9/10/12.
- *Expressions* are EMFACS-style prototypes (``PROTOTYPES``) for the 7 basic classes, sampled at
  varied (often low) intensity, with some of the prototype's AUs dropped and with small random
  activations of other AUs, so the classes overlap.
- *Nuisances* (from a nuisance seed): small in-plane rotation / translation / scale, gaze,
  background (smooth gradient, blotchy texture or stripes), a lighting gradient with global
  brightness and contrast changes, blur and pixel noise.

Every rendered image records its ground-truth AU intensities (``FaceData.aus`` with
``au_names == AU_NAMES``) and 68 landmarks in the iBUG 300-W order (jaw 0-16, brows 17-26,
nose 27-35, eyes 36-47, outer lips 48-59, inner lips 60-67; "left" and "right" as in iBUG, i.e.
point 0 / 17 / 36 / 48 are on the image's left). Landmarks are ``(x, y)`` in output pixels with
pixel ``k``'s centre at ``k`` (dlib / OpenCV convention), after the pose jitter.

Splits ``train`` / ``val`` / ``test`` hold 500 / 100 / 200 images per class by default; image
``i`` has class ``BASIC7[i % 7]`` so every prefix is balanced, and identities never repeat
across splits (identity seeds are ``split offset + i``, with disjoint offsets). Image ``i`` of a
split is a pure function of ``(split, i, resolution, channels)`` (seeded ``np.random.default_rng``
streams from a fixed base seed; every resolution-independent number is drawn before any
resolution-dependent one, so the same face comes out at 48 and 64 pixels). Pixels are
bit-identical across runs; across machines they are identical for the same Pillow version
(the rasteriser), and ``FaceData.content_hash`` would reveal any drift.

Difficulty and speed (measured, 2-core shared machine, ``torch.set_num_threads(1)``)
-------------------------------------------------------------------------------------
Rendering takes about 1.3-1.5 ms per 48x48 face and 1.5-2.0 ms per 64x64 face on one core.
The prototypes' AUs alone predict the class with about 94 % accuracy (gradient boosting on the
ground-truth AUs), roughly the ceiling for any image model. The small FER2013-style CNN in
``benchmarks/toyfaces_difficulty.py`` (48x48 gray, Adam 1e-3, batch 64, flips) reached 71 % test
accuracy with 500 images/class after 15 epochs and 32 % with 50 images/class after 30 epochs
(chance: 14 %). Re-run that script after any change to the renderer or the sampling constants,
and bump ``RENDER_VERSION``.

Layout: the AU vocabulary and the EMFACS prototypes live in :mod:`ferbench.aus` (shared with
generators and AU-fidelity metrics); :mod:`.identity` (who), :mod:`.geometry` (AUs -> shapes and
landmarks), :mod:`.canvas` (rasterising, background, pose), :mod:`.render` (one face) and
:mod:`.dataset` (splits, sampling, :func:`load_toyfaces`, the adapter).
"""

from __future__ import annotations

from ferbench.aus import AU_NAMES, PROTOTYPES
from ferbench.data.toyfaces.dataset import (
    CLASSES,
    DEFAULT_PER_CLASS,
    SPLITS,
    ToyFacesAdapter,
    identity_seed,
    item,
    load_toyfaces,
    sample_aus,
)
from ferbench.data.toyfaces.render import RENDER_VERSION, render

__all__ = [
    "AU_NAMES", "CLASSES", "DEFAULT_PER_CLASS", "PROTOTYPES", "RENDER_VERSION", "SPLITS",
    "ToyFacesAdapter", "identity_seed", "item", "load_toyfaces", "render", "sample_aus",
]
