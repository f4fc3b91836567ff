/*
 * version.h - the git commit the program was built from, for result files and
 * `nqs --version` (NQS_VERSION, the release number, is a compile definition).
 * The commit is read at every build into a generated source (CMakeLists.txt),
 * so it is never older than the binary; it ends in "-dirty" when tracked
 * files had uncommitted changes, and is "unknown" outside a git checkout.
 */
#ifndef NQS_VERSION_H
#define NQS_VERSION_H

extern const char nqs_git_commit[];
#define NQS_GIT_COMMIT nqs_git_commit

#endif
