using System;
using System.Collections.Generic;
using System.IO;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;

namespace LargeFolios.FaultPath;

/// <summary>
/// Runs scenarios (docs/scenario-format.md): one machine with the kernel's default THP settings and
/// the scenario's processes (address spaces; process 0 at the start, one more per <c>fork</c>), each
/// command executed as the kernel would execute the syscall or access it stands for; <c>dump</c>,
/// <c>stats</c> print to the output.
/// </summary>
/// <remarks>
/// <para>The memory is a metadata-only arena (descriptors, no bytes), so a scenario that touches
/// gigabytes costs only the descriptors and 4 KiB of host memory per page table; stores still mark
/// their page as non-zero, which is all a split asks of a page's contents.</para>
/// <para>What the machine takes from the host is charged to a <see cref="HostMemory"/> bound (the
/// runner's own within the process's, unless one is given). A command whose page tables reach it fails with a
/// <see cref="HostMemoryException"/> naming the line; the machine stays valid, as after any
/// out-of-memory fault.</para>
/// </remarks>
public sealed class ScenarioRunner : IDisposable
{
    /// <summary>The arena a runner uses unless told otherwise: 4 GiB, metadata only (64 MiB of descriptors).</summary>
    public const long DefaultArenaBytes = 4L << 30;

    private readonly TextWriter _output;
    private readonly Arena _arena;
    private readonly Machine _machine;
    private readonly AddressSpace?[] _processes = new AddressSpace?[ScenarioReader.MaxProcesses];
    private int _current;

    /// <summary>Creates a runner printing to <paramref name="output"/>.</summary>
    /// <param name="output">Where <c>dump</c> and <c>stats</c> print.</param>
    /// <param name="arenaBytes">The simulated memory.</param>
    /// <param name="metadataOnly">False to back the arena with real memory (folios really zeroed).</param>
    /// <param name="hostMemory">The bound the machine's host memory is charged to; null for one of the runner's own, limited only by the process's.</param>
    /// <exception cref="HostMemoryException">The bound cannot take the arena (its descriptors, or its memory); nothing was taken.</exception>
    public ScenarioRunner(TextWriter output, long arenaBytes = DefaultArenaBytes, bool metadataOnly = true, HostMemory? hostMemory = null)
    {
        ArgumentNullException.ThrowIfNull(output);
        _output = output;
        // Without a bound of the caller's, one of the runner's own, limited only by the process's,
        // so that a refusal is this scenario's and not that of a runner beside it.
        hostMemory ??= new HostMemory(long.MaxValue);
        _arena = new Arena(arenaBytes, options: new ArenaOptions { MetadataOnly = metadataOnly, HostMemory = hostMemory });
        try
        {
            _machine = new Machine(_arena);
            _processes[0] = _machine.CreateAddressSpace();
        }
        catch (OutOfMemoryException)
        {
            _machine?.Dispose();
            _arena.Dispose();
            throw;
        }
    }

    /// <summary>The machine (its policy, counters and arena).</summary>
    public Machine Machine => _machine;

    /// <summary>The current process's address space (process 0's until a <c>process</c> line switches).</summary>
    public AddressSpace AddressSpace => _processes[_current] ?? throw new InvalidOperationException($"Process {_current} has exited; a process command must follow exit.");

    /// <summary>The process the commands run in now.</summary>
    public int CurrentProcess => _current;

    /// <summary>Process <paramref name="id"/>'s address space; null when it never existed or has exited.</summary>
    public AddressSpace? Process(int id) => (uint)id < (uint)_processes.Length ? _processes[id] : null;

    /// <summary>
    /// Reads and runs the scenario at <paramref name="path"/>, printing to <paramref name="output"/>;
    /// errors go to <paramref name="error"/> as one line naming file, line and what went wrong.
    /// </summary>
    /// <returns>0; 2 for a malformed line (nothing after it ran) or a scenario that needs more host
    /// memory than the bound allows (<see cref="HostMemoryException"/>, at the start or at the line
    /// that reached it); 1 for a command that failed (a fault outside every mapping, a syscall the
    /// kernel would refuse, the arena out of memory).</returns>
    public static int Replay(string path, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(error);
        ScenarioReplayResult result = ReplayFile(path, output);
        if (result.Error is { } line)
            error.WriteLine(line);
        return result.ExitStatus;
    }

    /// <summary>
    /// <see cref="Replay(string, TextWriter, TextWriter)"/> that returns how the run ended, its error
    /// line included, instead of printing it: what a comparison with the kernel's run needs.
    /// </summary>
    public static ScenarioReplayResult ReplayFile(string path, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(output);
        if (WhyUnreadable(path) is { } why)
            return ScenarioReplayResult.Malformed($"{(path.Length == 0 ? "\"\"" : path)}: cannot read the scenario: {why}.", 0);

        ScenarioRunner runner;
        try
        {
            runner = new ScenarioRunner(output);
        }
        catch (HostMemoryException tooBig)
        {
            return ScenarioReplayResult.Malformed($"{path}: {tooBig.Message}", 0);
        }

        try
        {
            using (runner)
                runner.Run(ScenarioReader.ReadFile(path), path);
            return ScenarioReplayResult.Success;
        }
        catch (ScenarioSyntaxException syntax)
        {
            output.Flush();
            return ScenarioReplayResult.Malformed(syntax.Message, syntax.Line);
        }
        catch (ScenarioExecutionException failed)
        {
            output.Flush();
            return failed.Failure == ScenarioReplayResult.MalformedLine
                ? ScenarioReplayResult.Malformed(failed.Message, failed.Line)
                : ScenarioReplayResult.Failed(failed.Message, failed.Line, failed.Failure);
        }
        catch (HostMemoryException reached)
        {
            output.Flush();
            return ScenarioReplayResult.Malformed(reached.Message, 0);
        }
        catch (IOException io)
        {
            return ScenarioReplayResult.Malformed($"{path}: cannot read the scenario: {io.Message}", 0);
        }
        catch (UnauthorizedAccessException denied)
        {
            return ScenarioReplayResult.Malformed($"{path}: cannot read the scenario: {denied.Message}", 0);
        }
    }

    /// <summary>Why <paramref name="path"/> cannot be a scenario file, where a look at it tells; null when it may be one.</summary>
    public static string? WhyUnreadable(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (string.IsNullOrWhiteSpace(path))
            return "the file name is empty";
        if (Directory.Exists(path))
            return "it is a directory; expected a scenario file";
        return null;
    }

    /// <summary>Runs every command; stops at the first that fails.</summary>
    /// <exception cref="ScenarioSyntaxException">A malformed line (from the reader).</exception>
    /// <exception cref="ScenarioExecutionException">A command failed.</exception>
    public void Run(IEnumerable<ScenarioCommand> commands, string file = "")
    {
        ArgumentNullException.ThrowIfNull(commands);
        foreach (ScenarioCommand command in commands)
            Execute(command, file);
    }

    /// <summary>Runs one command in the current process.</summary>
    /// <exception cref="ScenarioExecutionException">
    /// It failed; the message names <paramref name="file"/>, the line, the command, what failed it
    /// (<see cref="ScenarioExecutionException.Failure"/>: the errno's name, SIGSEGV or OOM) and why.
    /// </exception>
    /// <exception cref="HostMemoryException">It ran out of memory because the host-memory bound refused its page tables; the message names the line and the bound.</exception>
    /// <exception cref="ArgumentException">A process command that the reader would have refused (a process that does not exist, a command in an exited process).</exception>
    public void Execute(ScenarioCommand command, string file = "")
    {
        long refusals = _arena.HostMemory.Refusals;
        try
        {
            switch (command.Verb)
            {
                case ScenarioVerb.ThpEnabled:
                    _machine.Policy.WriteEnabled(command.Text!);
                    break;
                case ScenarioVerb.ThpSize:
                    _machine.Policy.WriteSizeEnabled(ThpPolicy.SizeName(command.Order), command.Text!);
                    break;
                case ScenarioVerb.ThpKnob:
                    _machine.Policy.WriteKnob(command.Knob, command.Text!);
                    break;
                case ScenarioVerb.Mmap:
                    AddressSpace.Mmap(command.Address, command.Length, command.Protection);
                    break;
                case ScenarioVerb.Munmap:
                    AddressSpace.Munmap(command.Address, command.Length);
                    break;
                case ScenarioVerb.Mprotect:
                    AddressSpace.Mprotect(command.Address, command.Length, command.Protection);
                    break;
                case ScenarioVerb.Mremap:
                    AddressSpace.Mremap(command.Address, command.Length, command.NewLength, command.NewAddress);
                    break;
                case ScenarioVerb.Madvise:
                    if (!AddressSpace.Madvise(command.Address, command.Length, command.Advice))
                    {
                        throw Failed(command, file, command.Address, $"ENOMEM: part of 0x{command.Address:x}..+0x{command.Length:x} is not mapped; the advice was applied where it is (Linux returns -ENOMEM after).", "ENOMEM", null);
                    }

                    break;
                case ScenarioVerb.Write:
                    AddressSpace.Write(command.Address);
                    break;
                case ScenarioVerb.Read:
                    AddressSpace.Read(command.Address);
                    break;
                case ScenarioVerb.Fork:
                    Fork(command);
                    break;
                case ScenarioVerb.Process:
                    SwitchTo(command.Process);
                    break;
                case ScenarioVerb.Exit:
                    Exit();
                    break;
                case ScenarioVerb.Dump:
                    _output.Write(AddressSpace.FormatLayout());
                    break;
                case ScenarioVerb.Stats:
                    _output.Write(_machine.MthpStats.Format());
                    break;
                case ScenarioVerb.Shrink:
                    _machine.ShrinkDeferredSplit();
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(command), command.Verb, "No such scenario command.");
            }
        }
        catch (SegmentationFaultException fault)
        {
            throw Failed(command, file, fault.Address, $"SIGSEGV: {fault.Message}", ScenarioReplayResult.SegmentationFault, fault);
        }
        catch (BadAddressException bad)
        {
            throw Failed(command, file, bad.Address, $"{bad.Errno}: {bad.Message}", bad.Errno.ToString(), bad);
        }
        catch (SyscallException refused)
        {
            throw Failed(command, file, refused.Address, $"{refused.Errno}: {refused.Message}", refused.Errno.ToString(), refused);
        }
        catch (OutOfMemoryException oom)
        {
            // The fault path's VM_FAULT_OOM does not say whose memory ran out; the bound's count does.
            if (_arena.HostMemory.Refusals != refusals && _arena.HostMemory.LastRefusal is { } refusal)
                throw new HostMemoryException($"{Where(command, file)}: {oom.Message.TrimEnd('.')}: {char.ToLowerInvariant(refusal.Message[0])}{refusal.Message[1..]}", refusal);
            throw Failed(command, file, command.Address, $"{ScenarioReplayResult.OutOfMemory}: {oom.Message}", ScenarioReplayResult.OutOfMemory, oom);
        }
        catch (PlatformNotSupportedException unsupported)
        {
            // LARGEFOLIOS_PTE_SCAN names a SIMD path this CPU lacks: the environment, not the scenario.
            throw Failed(command, file, command.Address, unsupported.Message.TrimEnd('.'), ScenarioReplayResult.MalformedLine, unsupported);
        }
    }

    /// <summary><c>fork</c>: the current process's address space copied as <c>dup_mmap</c> copies it, under the id the reader gave the child.</summary>
    private void Fork(ScenarioCommand command)
    {
        int child = command.Process;
        if ((uint)child >= (uint)_processes.Length || _processes[child] != null || child == 0)
            throw new ArgumentException($"Line {command.Line}: fork to process {child}, which is in use or out of range; expected the next unused id the reader gives.", nameof(command));
        long refusals = _arena.HostMemory.Refusals;
        try
        {
            _processes[child] = AddressSpace.Fork();
        }
        catch (OutOfMemoryException oom) when (_arena.HostMemory.Refusals == refusals)
        {
            // dup_mmap found no memory for the child's page tables: fork itself fails, as Linux's does.
            throw new SyscallException($"Cannot fork: the arena has no free page for the child's page tables: {oom.Message}", Errno.ENOMEM, command.Address);
        }
    }

    private void SwitchTo(int process)
    {
        if (Process(process) == null)
            throw new ArgumentException($"Process {process} does not exist or has exited; expected a live process.", nameof(process));
        _current = process;
    }

    /// <summary><c>exit</c>: the current process's address space goes (<c>exit_mmap</c>); a <c>process</c> line must follow.</summary>
    private void Exit()
    {
        AddressSpace space = AddressSpace;
        int alive = 0;
        foreach (AddressSpace? process in _processes)
            alive += process == null ? 0 : 1;
        if (alive == 1)
            throw new ArgumentException($"Process {_current} is the last one alive; a scenario keeps at least one.");
        _processes[_current] = null;
        space.Dispose();
    }

    /// <summary>Disposes every process's address space, the machine and the arena.</summary>
    public void Dispose()
    {
        for (int i = 0; i < _processes.Length; i++)
        {
            _processes[i]?.Dispose();
            _processes[i] = null;
        }

        _machine.Dispose();
        _arena.Dispose();
    }

    private static ScenarioExecutionException Failed(ScenarioCommand command, string file, ulong address, string message, string failure, Exception? cause) =>
        new($"{Where(command, file)}: {command}: {message}", file, command.Line, address, failure, cause);

    private static string Where(ScenarioCommand command, string file) => $"{(file.Length > 0 ? file + ":" : "line ")}{command.Line}";
}
