/* SPDX-License-Identifier: MIT */
/* The host adapters, in one table: adding a host is one file and one line here.
 */
#include <string.h>

#include "adapter.h"

extern const struct adapter adapter_claude_code;
extern const struct adapter adapter_claude_desktop;
extern const struct adapter adapter_codex;
extern const struct adapter adapter_droid;
extern const struct adapter adapter_cursor;
extern const struct adapter adapter_opencode;
extern const struct adapter adapter_gemini;
extern const struct adapter adapter_vscode;
extern const struct adapter adapter_vscode_insiders;
extern const struct adapter adapter_vscodium;
extern const struct adapter adapter_windsurf;
extern const struct adapter adapter_kiro;
extern const struct adapter adapter_lmstudio;
extern const struct adapter adapter_copilot;
extern const struct adapter adapter_crush;
extern const struct adapter adapter_qwen;
extern const struct adapter adapter_cline;
extern const struct adapter adapter_cline_vscode;
extern const struct adapter adapter_zed;
extern const struct adapter adapter_amazonq;
extern const struct adapter adapter_continue;
extern const struct adapter adapter_continue_cli;

const struct adapter *const adapter_registry[] = {
    &adapter_claude_code,  &adapter_claude_desktop, &adapter_codex,
    &adapter_droid,        &adapter_cursor,         &adapter_opencode,
    &adapter_gemini,       &adapter_vscode,         &adapter_vscode_insiders,
    &adapter_vscodium,     &adapter_windsurf,       &adapter_kiro,
    &adapter_lmstudio,     &adapter_copilot,        &adapter_crush,
    &adapter_qwen,         &adapter_cline,          &adapter_cline_vscode,
    &adapter_zed,          &adapter_amazonq,        &adapter_continue,
    &adapter_continue_cli,
};

const size_t adapter_count =
    sizeof(adapter_registry) / sizeof(adapter_registry[0]);

const struct adapter *adapter_find(const char *id)
{
	size_t i;

	for (i = 0; i < adapter_count; i++)
		if (strcmp(adapter_registry[i]->id, id) == 0)
			return adapter_registry[i];
	return NULL;
}

bool adapter_known(const char *id)
{
	return adapter_find(id) != NULL;
}
