/* SPDX-License-Identifier: Apache-2.0 */
/* deft/export.h - symbol visibility. The library is built with hidden visibility; DEFT_API marks
 * the public functions. */
#ifndef DEFT_EXPORT_H
#define DEFT_EXPORT_H
#if defined(DEFT_BUILDING_LIBRARY) && defined(__GNUC__)
#define DEFT_API __attribute__((visibility("default")))
#else
#define DEFT_API
#endif
#endif
