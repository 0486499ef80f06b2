/* SPDX-License-Identifier: MIT */
/* Placeholder while this module is written. */
#include "api.h"
