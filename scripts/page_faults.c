// Cost of first-touch page faults: docs/benchmark.md, "Page faults".
// Build and run: gcc -O2 scripts/page_faults.c -o /tmp/pf && /tmp/pf
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(){size_t n=32u<<20;
for(int r=0;r<3;r++){char*p=mmap(0,n,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0);
double t0=now();memset(p,1,n);double t1=now();memset(p,2,n);double t2=now();
printf("32 MiB fresh %.1f ms, resident %.1f ms, per 4KiB page %.2f us, per MiB %.2f ms\n",(t1-t0)*1e3,(t2-t1)*1e3,(t1-t0)*1e6/(n/4096),(t1-t0)*1e3/32);munmap(p,n);}}
