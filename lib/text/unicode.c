#include "text/unicode.h"

#include "text/unicode_data.h"

int
rm_unicode_assigned(uint32_t cp)
{
	if (cp >= 0x110000)
		return 0;
	return !(rm_uc_stage2[rm_uc_stage1[cp >> 7]][cp & 127] & 4);
}

const char *
rm_unicode_version(void)
{
	return RM_UNICODE_VERSION;
}
