namespace LargeFolios.FaultPath;

/// <summary>
/// <c>/proc/sys/vm/overcommit_memory</c>: whether a private writable mapping's charge (VM_ACCOUNT, at
/// mmap, mprotect to writable, mremap growth and fork) may be refused (Linux mm/util.c
/// <c>__vm_enough_memory</c>).
/// </summary>
public enum OvercommitPolicy
{
    /// <summary>0, the kernel's default: one charge of more pages than the machine has (the arena, no swap) is ENOMEM; any smaller one succeeds, whatever is charged already.</summary>
    Guess = 0,

    /// <summary>1: every charge succeeds; memory runs out at fault time instead (a workload larger than its arena runs into VM_FAULT_OOM).</summary>
    Always = 1,
}
