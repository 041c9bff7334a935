"""Folder and archive submissions: images + ``manifest.csv`` that become a generator.

* :mod:`ferbench.submit.archive`: safe reading of a folder, ``.zip`` or ``.tar(.gz)``.
* :mod:`ferbench.submit.manifest`: validation of the manifest and every image, all before
  anything is stored.
* :mod:`ferbench.submit.store`: the accepted submission under
  ``$FERBENCH_HOME/submissions/<name>/<version>/``.
* :mod:`ferbench.submit.folder_generator`: :class:`FolderSubmission`, the generator that
  serves a stored submission, registered for each one found.
"""
