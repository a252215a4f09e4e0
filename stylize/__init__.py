"""Style transfer back ends (seeds 002 and 003).

Seed 002 (Matsuo & Yanai: CNN style transfer and texture generation from web images), in this package:

- ``stylize.nst``: Gatys et al. neural style transfer. ``nst.vgg`` a plain-torch VGG19 (features only,
  torchvision's ``features.N.*`` names, ImageNet normalisation inside), ``nst.models`` / ``nst.loading``
  the weights registry (``vgg19`` = timm/vgg19.tv_in1k, ``tiny`` = seeded random) loaded offline first
  and once per process, ``nst.losses`` Gram / content / style / TV losses, ``nst.colour`` keeping the
  content's colours (YIQ luminance swap), ``nst.config.NSTConfig`` every option with its range and
  check, ``nst.run.NSTRun(content, styles, config)`` the run (``RunStart`` + one ``StepRecord`` per
  optimizer iteration, see ``workbench.records``), ``nst.cli`` the ``nst``, ``models`` and ``download``
  commands.
- ``stylize.style_vector``: the Neural Style Vector (Gram upper triangle + diagonal, signed square
  root, L2 normalisation; 131,328 values at conv5_1), batched.
- ``stylize.collection`` (a folder of images per texture word), ``stylize.index`` (the on-disk vector
  cache, refreshed only for new or changed files), ``stylize.clusters`` (k-means, k by silhouette,
  representative nearest the centroid, PCA map, retrieval), ``stylize.sheets`` (contact sheets, map),
  ``stylize.word_clusters`` (word -> clusters -> style images, saved), ``stylize.collection_cli`` the
  ``index``, ``clusters`` and ``retrieve`` commands.
- ``stylize.cli``: ``python -m stylize COMMAND``; back ends add commands through ``COMMAND_MODULES``.

Seed 003 (Style Matching Score) lives in ``stylize.sms``.
"""
