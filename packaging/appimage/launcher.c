/* Runs the linuxdeploy script named at compile time (LINUXDEPLOY_SCRIPT) with this program's
 * arguments. The Tauri bundler zeroes bytes 8-10 of the linuxdeploy it runs (an AppImage's
 * magic); in an ELF file they are padding, in a script they would be its first line. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    (void)argc;
    /* Where the bundler keeps its tools (the GTK plugin it wrote): this program's directory. */
    setenv("LINUXDEPLOY_TOOLS_DIR", TOOLS_DIR, 1);
    argv[0] = LINUXDEPLOY_SCRIPT;
    execv(LINUXDEPLOY_SCRIPT, argv);
    perror("linuxdeploy: cannot run " LINUXDEPLOY_SCRIPT);
    return 127;
}
