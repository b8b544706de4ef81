/*
 * banned.h: functions berth never calls, made compile errors. They overflow
 * buffers silently (strcpy, strcat, sprintf), keep hidden state (strtok,
 * gmtime) or hide parse errors (atoi). Use snprintf, strtol with checks,
 * strtok_r and gmtime_r instead. Included last by every berth source file.
 */
#ifndef BERTH_BANNED_H
#define BERTH_BANNED_H

#define BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef atoi
#define atoi(x) BANNED(atoi)
#undef gmtime
#define gmtime(x) BANNED(gmtime)
#undef localtime
#define localtime(x) BANNED(localtime)

#endif
