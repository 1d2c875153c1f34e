"""Reference models trained by the project on scikit-learn's 8x8 digits.

``python -m devnet.models.train`` regenerates every file in this folder that
``manifest.json`` lists; the files are committed so nothing needs training to run.
"""
