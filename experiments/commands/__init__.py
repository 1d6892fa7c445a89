"""The commands of python -m experiments, one module each with main(argv): run, train, evaluate, validate, shift, keys."""
