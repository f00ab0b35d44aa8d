/* The Windows build's include directory entry for the shared rstrtmgr_ext.h. */
/* The Windows build puts native/windows, not native, on the include path:
 * native/restartmanager.h (the Linux stand-in for the SDK header) would
 * otherwise shadow the SDK's <restartmanager.h> for MSVC and mingw alike. */
#include "../rstrtmgr_ext.h"
