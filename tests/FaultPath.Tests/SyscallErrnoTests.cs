using System;
using System.Collections.Generic;
using System.Linq;
using LargeFolios.PageTables;
using LargeFolios.TestSupport;
using Xunit;
using static LargeFolios.FaultPath.Tests.Sizes;

namespace LargeFolios.FaultPath.Tests;

/// <summary>
/// Every way a memory syscall's arguments can be wrong, each with the errno Linux 6.18 returns for
/// it, and each leaving both processes exactly as they were: the layout, the counters, the free
/// pages, the RSS, the tables, the deferred-split queue and the VMAs (<see cref="MachineState"/>),
/// with the machine's validator passing.
/// </summary>
public sealed class SyscallErrnoTests
{
    private const ulong Hole = Base + 8 * Pmd;          // nothing mapped from here up to Far
    private const ulong Far = Base + 16 * Pmd;          // a second mapping, 2 MiB
    private const ulong Top = VirtualAddress.TaskSize;
    private const ulong MachineBytes = (ulong)TestMachine.DefaultArenaBytes;
    private const ulong Reserved = 0x10_0000_0000;      // a PROT_NONE reservation larger than the machine: no charge

    public static IEnumerable<object[]> BadCalls() => new (string Name, Errno Errno, Action<AddressSpace> Call)[]
    {
        ("mmap zero length", Errno.EINVAL, mm => mm.Mmap(Hole, 0)),
        ("mmap unaligned", Errno.EINVAL, mm => mm.Mmap(Hole + 1, Page)),
        ("mmap length overflows when rounded", Errno.ENOMEM, mm => mm.Mmap(Hole, ulong.MaxValue)),
        ("mmap past user space", Errno.ENOMEM, mm => mm.Mmap(Top - Page, 2 * Page)),
        ("mmap unaligned and past user space: ENOMEM first", Errno.ENOMEM, mm => mm.Mmap(Top - 1, 2 * Page)),
        ("munmap unaligned", Errno.EINVAL, mm => mm.Munmap(Base + 1, Page)),
        ("munmap zero length", Errno.EINVAL, mm => mm.Munmap(Base, 0)),
        ("munmap past user space", Errno.EINVAL, mm => mm.Munmap(Top, Page)),
        ("munmap length reaching past user space", Errno.EINVAL, mm => mm.Munmap(Base, Top)),
        ("madvise unaligned", Errno.EINVAL, mm => mm.Madvise(Base + 0x800, Page, MadviseAdvice.DontNeed)),
        ("madvise length overflows when rounded", Errno.EINVAL, mm => mm.Madvise(Base, ulong.MaxValue - 10, MadviseAdvice.DontNeed)),
        ("madvise range wraps", Errno.EINVAL, mm => mm.Madvise(Base, ulong.MaxValue - Base, MadviseAdvice.Free)),
        ("madvise of a hole", Errno.ENOMEM, mm => mm.Madvise(Hole, Pmd, MadviseAdvice.DontNeed)),
        ("madvise hugepage of a hole", Errno.ENOMEM, mm => mm.Madvise(Hole, Pmd, MadviseAdvice.HugePage)),
        ("madvise collapse of a hole", Errno.ENOMEM, mm => mm.Madvise(Hole, Pmd, MadviseAdvice.Collapse)),
        ("madvise populate of a hole", Errno.ENOMEM, mm => mm.Madvise(Hole, Pmd, MadviseAdvice.PopulateWrite)),
        ("madvise past user space", Errno.ENOMEM, mm => mm.Madvise(Top, Page, MadviseAdvice.DontNeed)),
        ("mprotect unaligned", Errno.EINVAL, mm => mm.Mprotect(Base + 1, Page, MemoryProtection.Read)),
        ("mprotect length overflows", Errno.ENOMEM, mm => mm.Mprotect(Base, ulong.MaxValue, MemoryProtection.None)),
        ("mprotect starting in a hole", Errno.ENOMEM, mm => mm.Mprotect(Hole, Pmd, MemoryProtection.None)),
        ("mremap unaligned old address", Errno.EINVAL, mm => mm.Mremap(Base + 1, Page, 2 * Page, null)),
        ("mremap zero new length", Errno.EINVAL, mm => mm.Mremap(Base, Page, 0, null)),
        ("mremap new length beyond user space", Errno.EINVAL, mm => mm.Mremap(Base, Page, Top + Page, null)),
        ("mremap move past user space", Errno.EINVAL, mm => mm.Mremap(Base, Page, Page, Top)),
        ("mremap move to an unaligned address", Errno.EINVAL, mm => mm.Mremap(Base, Page, Page, Hole + 1)),
        ("mremap move onto itself", Errno.EINVAL, mm => mm.Mremap(Base, Pmd, Pmd, Base + Page)),
        ("mremap of a hole", Errno.EFAULT, mm => mm.Mremap(Hole, Page, 2 * Page, null)),
        ("mremap move of a hole", Errno.EFAULT, mm => mm.Mremap(Hole, Page, Page, Hole + Pmd)),
        ("mremap across two VMAs", Errno.EFAULT, mm => mm.Mremap(Base + 7 * Pmd, 2 * Pmd, 3 * Pmd, Hole + Pmd)),
        ("mremap grow into the next mapping", Errno.ENOMEM, mm => mm.Mremap(Base + Pmd, 7 * Pmd, 16 * Pmd, null)),
        ("mremap grow from the middle of a VMA", Errno.ENOMEM, mm => mm.Mremap(Base + Pmd, Pmd, 2 * Pmd, null)),
        ("mremap duplicate of a private mapping", Errno.EINVAL, mm => mm.Mremap(Base, 0, Page, Hole)),
        ("mmap writable, larger than the machine", Errno.ENOMEM, mm => mm.Mmap(Hole, MachineBytes + 2 * Pmd)),   // less the 2 MiB of Far it would replace: still more than the machine
        ("mremap growing more than the machine", Errno.ENOMEM, mm => mm.Mremap(Far, Pmd, MachineBytes + 2 * Pmd, null)),
        ("mremap moving and growing more than the machine", Errno.ENOMEM, mm => mm.Mremap(Far, Pmd, MachineBytes + 2 * Pmd, Reserved + MachineBytes * 2)),
        ("mprotect writable, larger than the machine", Errno.ENOMEM, mm => mm.Mprotect(Reserved, MachineBytes + Pmd, MemoryProtection.ReadWrite)),
    }.Select(c => new object[] { c.Name, c.Errno, c.Call }).ToArray();

    [Theory]
    [MemberData(nameof(BadCalls))]
    public void A_bad_call_fails_with_Linuxs_errno_and_changes_nothing(string name, Errno errno, Action<AddressSpace> call)
    {
        using var world = new World(metadataOnly: false);
        world.Policy.SetSizeEnabled(4, ThpSizeEnabled.Always);
        AddressSpace parent = world.Mm;
        parent.Mmap(Base, 8 * Pmd);
        parent.Mmap(Far, Pmd);
        parent.Madvise(Base, Pmd, MadviseAdvice.HugePage);
        parent.Write(Base, 1);                  // a PMD THP
        parent.Write(Base + Pmd + 0x10000, 2);  // a 64 KiB folio
        parent.Read(Base + 2 * Pmd);            // the zero page
        parent.Write(Far, 3);
        parent.Mmap(Reserved, 2 * MachineBytes, MemoryProtection.None);
        using AddressSpace child = parent.Fork();
        child.Write(Base + Pmd + 0x11000, 4);   // copy on write of one page of the 64 KiB folio
        MachineState parentBefore = MachineState.Of(world.Machine, parent);
        MachineState childBefore = MachineState.Of(world.Machine, child);

        BadAddressException error = Assert.ThrowsAny<BadAddressException>(() => call(parent));

        Assert.True(errno == error.Errno, $"{name}: expected {errno}, got {error.Errno}: {error.Message}");
        Assert.Equal(parentBefore, MachineState.Of(world.Machine, parent));
        Assert.Equal(childBefore, MachineState.Of(world.Machine, child));
        Assert.Equal(1, parent.Read(Base));
        Assert.Equal(2, child.Read(Base + Pmd + 0x10000));
        world.Machine.Validate();
    }

    /// <summary>
    /// Heuristic overcommit charges each request alone: two writable mappings that each fit merge
    /// into one VMA larger than the machine, which a fork then cannot charge (Linux's dup_mmap
    /// returns -ENOMEM); nothing of the child is left. With overcommit always, it forks.
    /// </summary>
    [Fact]
    public void A_fork_that_would_charge_a_VMA_larger_than_the_machine_fails_with_ENOMEM_and_leaves_no_child()
    {
        using var world = new World(metadataOnly: false);
        ulong half = MachineBytes / 2 + Pmd;
        world.Mm.Mmap(Base, half);
        world.Mm.Mmap(Base + half, half);
        world.Mm.Write(Base, 7);
        Assert.Single(world.Mm.Vmas.ToArray());
        MachineState before = MachineState.Of(world);

        SyscallException refused = Assert.Throws<SyscallException>(() => world.Mm.Fork());

        Assert.Equal(Errno.ENOMEM, refused.Errno);
        Assert.Equal(before, MachineState.Of(world));
        world.Machine.Validate();
        world.Machine.Overcommit = OvercommitPolicy.Always;
        using AddressSpace child = world.Mm.Fork();
        Assert.Equal(7, child.Read(Base));
        world.Machine.Validate();
    }

    [Fact]
    public void An_advice_or_protection_that_is_not_one_is_refused_before_anything_changes()
    {
        using var world = new World();
        world.Mm.Mmap(Base, Pmd);
        world.Mm.Write(Base);
        MachineState before = MachineState.Of(world);

        Assert.Throws<ArgumentOutOfRangeException>(() => world.Mm.Madvise(Base, Pmd, (MadviseAdvice)77));
        Assert.Throws<ArgumentOutOfRangeException>(() => world.Mm.Mprotect(Base, Pmd, (MemoryProtection)77));
        Assert.Throws<ArgumentOutOfRangeException>(() => world.Mm.Mmap(Base + Pmd, Pmd, (MemoryProtection)77));

        Assert.Equal(before, MachineState.Of(world));
        world.Machine.Validate();
    }

    [Fact]
    public void A_process_that_has_exited_refuses_every_call_and_the_others_go_on()
    {
        using var world = new World();
        AddressSpace parent = world.Mm;
        parent.Mmap(Base, Pmd);
        parent.Write(Base);
        AddressSpace child = parent.Fork();
        child.Dispose();
        MachineState before = MachineState.Of(world);

        Assert.True(child.IsExited);
        Assert.Throws<ObjectDisposedException>(() => child.Write(Base));
        Assert.Throws<ObjectDisposedException>(() => child.Fork());
        Assert.Throws<ObjectDisposedException>(() => child.Mprotect(Base, Pmd, MemoryProtection.Read));
        Assert.Throws<ObjectDisposedException>(() => child.Mremap(Base, Pmd, 2 * Pmd, null));
        Assert.Throws<ObjectDisposedException>(() => child.Madvise(Base, Pmd, MadviseAdvice.Collapse));
        Assert.Throws<ObjectDisposedException>(() => child.Munmap(Base, Pmd));
        child.Dispose();   // a second exit is no error and changes nothing

        Assert.Equal(before, MachineState.Of(world));
        parent.Write(Base + Page);
        world.Machine.Validate();
    }
}
