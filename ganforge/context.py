"""What host-side trick events see of a run: :class:`TrickContext`, which lives beside :class:`~ganforge.Trick`.

Kept so that ``from ganforge.context import TrickContext`` goes on working; the class is
:class:`ganforge.interfaces.trick.TrickContext` (also ``ganforge.TrickContext``).
"""

from ganforge.interfaces.trick import TrickContext

__all__ = ["TrickContext"]
