"""``ganforge.runlock``, the 0.2.0 path of :mod:`ganforge.io.runlock`: the same module under its old name.

Code written for 0.2.0 imports it as before; ganforge itself imports the new path.
"""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("ganforge.io.runlock")
