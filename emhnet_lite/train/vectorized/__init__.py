"""Fold-vectorized training: F LOSO folds trained at once as one batched fold ensemble (``--vectorize-folds``).

``runner`` (a shard's folds in even chunks → fold folders), ``trainer`` (``train_folds``: each fold on its own
schedule), ``ensemble`` (stacked weights, one batched model), ``optim`` (per-fold optimizer and clipping),
``batchnorm`` (channels-last BatchNorm over F·C channels) and ``roi_align`` (the region crop's vmap rule).
Results equal fold-by-fold training up to float rounding (``docs/run_folder.md``).
"""
