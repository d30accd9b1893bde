#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <malloc.h>
#include <unistd.h>
#include <fcntl.h>
#include <execinfo.h>
/* Payload copy counter for the bench tool, loaded with LD_PRELOAD (see count.py).

   Counts every copy of 64 KiB or more a process makes, per call site (the first return
   addresses above the copy): memcpy and memmove calls, and reallocations that moved a heap
   block (glibc copies those; a block of its own mapping is moved by mremap, without a copy,
   and is not counted). At exit, each process writes its sites to $COPIES_DIR/site.<pid>. */
#define BIG (64*1024)
#define NS 256
#define DEPTH 8
struct site { void *a[DEPTH]; int k; const char *what; unsigned long n, bytes; };
static struct site sites[NS]; static int nsites; static int busy;
static void *(*r_memcpy)(void*, const void*, size_t);
static void *(*r_memmove)(void*, const void*, size_t);
static void *(*r_realloc)(void*, size_t);
static void slow(char *d, const char *s, size_t n, int back){ if(back) while(n--) d[n]=s[n]; else for(size_t i=0;i<n;i++) d[i]=s[i]; }
__attribute__((constructor)) static void init(void){ r_memcpy=dlsym(RTLD_NEXT,"memcpy"); r_memmove=dlsym(RTLD_NEXT,"memmove"); r_realloc=dlsym(RTLD_NEXT,"realloc"); }
static void note(const char *what, size_t n){
  if(busy || !r_memcpy) return; busy=1;
  void *a[DEPTH+2]; int k=backtrace(a,DEPTH+2); void **s=a+2; k-=2; if(k<0)k=0;
  int i; for(i=0;i<nsites;i++){ if(sites[i].what==what && sites[i].k==k && !memcmp(sites[i].a,s,k*sizeof(void*))) break; }
  if(i==nsites && nsites<NS){ sites[i].k=k; sites[i].what=what; r_memcpy(sites[i].a,s,k*sizeof(void*)); nsites++; }
  if(i<nsites){ sites[i].n++; sites[i].bytes+=n; }
  busy=0; }
void *memcpy(void *d, const void *s, size_t n){ if(!r_memcpy){slow(d,s,n,0);return d;} if(n>=BIG) note("memcpy",n); return r_memcpy(d,s,n); }
void *memmove(void *d, const void *s, size_t n){ if(!r_memmove){ if((char*)d>(const char*)s) slow(d,s,n,1); else slow(d,s,n,0); return d;} if(n>=BIG) note("memmove",n); return r_memmove(d,s,n); }
void *realloc(void *p, size_t n){ size_t old = p? malloc_usable_size(p):0; int mm = p ? (int)(((size_t*)p)[-1] & 2) : 0; if(!r_realloc) r_realloc=dlsym(RTLD_NEXT,"realloc"); void *q=r_realloc(p,n); size_t m= old<n?old:n; if(p && q && q!=p && !mm && m>=BIG) note("realloc-copy",m); return q; }
__attribute__((destructor)) static void fini(void){
  char path[512], cmd[512]; const char *dir=getenv("COPIES_DIR"); if(!dir) return; snprintf(path,sizeof path,"%s/site.%d",dir,getpid());
  int fd=open("/proc/self/cmdline",O_RDONLY); ssize_t k= fd>=0? read(fd,cmd,sizeof cmd-1):0; if(fd>=0) close(fd); if(k<0)k=0; cmd[k]=0; for(ssize_t i=0;i<k;i++) if(!cmd[i]) cmd[i]=' ';
  FILE *f=fopen(path,"w"); if(!f) return; fprintf(f,"# %s\n",cmd);
  Dl_info info;
  for(int i=0;i<nsites;i++){ fprintf(f,"%s %lu %lu", sites[i].what, sites[i].n, sites[i].bytes);
    for(int j=0;j<sites[i].k;j++){ unsigned long off=0; if(dladdr(sites[i].a[j],&info) && info.dli_fbase) off=(unsigned long)sites[i].a[j]-(unsigned long)info.dli_fbase; fprintf(f," %s:0x%lx", info.dli_fname? (strrchr(info.dli_fname,'/')? strrchr(info.dli_fname,'/')+1: info.dli_fname):"?", off); }
    fprintf(f,"\n"); }
  fclose(f); }
