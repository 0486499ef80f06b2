/* SPDX-License-Identifier: MIT */
/* Placeholder while this module is written. */
int main(void);
int main(void)
{
	return 2;
}
