# Type stub for the cffi-generated module: its objects are dynamic.
from typing import Any

ffi: Any
lib: Any
