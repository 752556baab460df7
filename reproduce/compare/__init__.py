"""The cross-method benchmark on the embedded ``digits`` data (``python -m reproduce.compare``).

One float model trained once; each of the five methods searches under one budget (average weight bits and
BOPs, :mod:`reproduce.compare.budget`), fine-tunes its bit config with its own code and the shared recipe,
and the same bit config is fine-tuned again by one common QAT path (HAWQ-V3's modules,
:mod:`reproduce.compare.common_qat`) to separate the search from the training recipe. Uniform W8A8 and W4A4
run through the common path as references.
"""
