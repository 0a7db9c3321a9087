"""Isaac Lab 3.0.0 as simulated by lambdabench (installed by the instance image's pip stand-in).

Not Isaac Lab: the `isaaclab` console script and its train / train_multigpu / play / list_envs
commands with the real 3.0.0 flags, output layout, TensorBoard tags and exit behaviour
(docs/isaaclab-contract.md, section 3.x, cites the wheel's file and line for each), running a small
numpy cart-pole on the CPU instead of Newton on a GPU. Everything it writes is labelled simulated.
"""

__version__ = "3.0.0"
