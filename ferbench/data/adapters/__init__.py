"""Dataset adapters: a dataset's own files -> records -> :class:`~ferbench.data.base.FaceData`.

An adapter knows one dataset's layout and label order. It lists **records** (file or pixel
source, canonical label, optional AUs, optional face box) and assigns each to a canonical split
(``train``/``val``/``test``). :func:`ferbench.data.decode.decode_records` turns records into
arrays; the prepared cache (:mod:`ferbench.data.cache`) calls it once per (dataset, split,
resolution, channels, seed) and never again. The adapter interface is documented in
:mod:`ferbench.data.registry`.

Layout: :mod:`ferbench.data.decode` (records and decoding), :mod:`ferbench.data.splits`
(split names and seeded splits), :mod:`.base` (the :class:`FileAdapter` base and file helpers)
and one module per dataset family (:mod:`.folders`, :mod:`.fer2013`, :mod:`.rafdb`,
:mod:`.affectnet`, :mod:`.kdef`).
"""

from __future__ import annotations

from ferbench.data.adapters.affectnet import AFFECTNET_ORDER, AffectNetAdapter
from ferbench.data.adapters.base import (
    FileAdapter,
    Index,
    file_sha256,
    stat_fingerprint,
    walk_images,
)
from ferbench.data.adapters.fer2013 import (
    FER2013_ORDER,
    FERPLUS_VOTES,
    FER2013Adapter,
    FERPlusAdapter,
)
from ferbench.data.adapters.folders import CKPlusAdapter, ImageFolderAdapter, ManifestAdapter
from ferbench.data.adapters.kdef import KDEF_CODES, KDEFAdapter
from ferbench.data.adapters.rafdb import EXPW_ORDER, RAFDB_ORDER, ExpWAdapter, RAFDBAdapter

__all__ = [
    "AFFECTNET_ORDER", "EXPW_ORDER", "FER2013_ORDER", "FERPLUS_VOTES", "KDEF_CODES", "RAFDB_ORDER",
    "AffectNetAdapter", "CKPlusAdapter", "ExpWAdapter", "FER2013Adapter", "FERPlusAdapter",
    "FileAdapter", "ImageFolderAdapter", "Index", "KDEFAdapter", "ManifestAdapter",
    "RAFDBAdapter", "builtin_adapters", "file_sha256", "stat_fingerprint", "walk_images",
]


def builtin_adapters() -> list[FileAdapter]:
    """One instance of every file-backed built-in adapter, in listing order."""
    return [FER2013Adapter(), FERPlusAdapter(), RAFDBAdapter(), AffectNetAdapter(7),
            AffectNetAdapter(8), CKPlusAdapter(), KDEFAdapter(), ExpWAdapter(),
            ImageFolderAdapter(), ManifestAdapter()]
