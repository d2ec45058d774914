using System;
using System.Collections.Generic;
using System.IO;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;

namespace LargeFolios.FaultPath;

/// <summary>
/// Runs scenarios (docs/scenario-format.md): one machine with the kernel's default THP settings, one
/// address space, each command executed as the kernel would execute the syscall or access it
/// stands for; <c>dump</c>, <c>stats</c> print to the output.
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
    private readonly AddressSpace _space;

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
            _space = _machine.CreateAddressSpace();
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

    /// <summary>The scenario's address space.</summary>
    public AddressSpace AddressSpace => _space;

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
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(error);
        if (Unreadable(path) is { } why)
        {
            error.WriteLine($"{(path.Length == 0 ? "\"\"" : path)}: cannot read the scenario: {why}.");
            return 2;
        }

        ScenarioRunner runner;
        try
        {
            runner = new ScenarioRunner(output);
        }
        catch (HostMemoryException tooBig)
        {
            error.WriteLine($"{path}: {tooBig.Message}");
            return 2;
        }

        try
        {
            using (runner)
                runner.Run(ScenarioReader.ReadFile(path), path);
            return 0;
        }
        catch (ScenarioSyntaxException syntax)
        {
            output.Flush();
            error.WriteLine(syntax.Message);
            return 2;
        }
        catch (ScenarioExecutionException failed)
        {
            output.Flush();
            error.WriteLine(failed.Message);
            return 1;
        }
        catch (HostMemoryException reached)
        {
            output.Flush();
            error.WriteLine(reached.Message);
            return 2;
        }
        catch (IOException io)
        {
            error.WriteLine($"{path}: cannot read the scenario: {io.Message}");
            return 2;
        }
        catch (UnauthorizedAccessException denied)
        {
            error.WriteLine($"{path}: cannot read the scenario: {denied.Message}");
            return 2;
        }
    }

    /// <summary>Why <paramref name="path"/> cannot be a scenario file, where a look at it tells; null when it may be one.</summary>
    private static string? Unreadable(string path)
    {
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

    /// <summary>Runs one command.</summary>
    /// <exception cref="ScenarioExecutionException">It failed; the message names <paramref name="file"/>, the line and the address.</exception>
    /// <exception cref="HostMemoryException">It ran out of memory because the host-memory bound refused its page tables; the message names the line and the bound.</exception>
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
                case ScenarioVerb.Mmap:
                    _space.Mmap(command.Address, command.Length);
                    break;
                case ScenarioVerb.Munmap:
                    _space.Munmap(command.Address, command.Length);
                    break;
                case ScenarioVerb.Madvise:
                    _space.Madvise(command.Address, command.Length, command.Advice);
                    break;
                case ScenarioVerb.Write:
                    _space.Write(command.Address);
                    break;
                case ScenarioVerb.Read:
                    _space.Read(command.Address);
                    break;
                case ScenarioVerb.Dump:
                    _output.Write(_space.FormatLayout());
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
            throw Failed(command, file, fault.Address, fault.Message, fault);
        }
        catch (BadAddressException bad)
        {
            throw Failed(command, file, bad.Address, bad.Message, bad);
        }
        catch (OutOfMemoryException oom)
        {
            // The fault path's VM_FAULT_OOM does not say whose memory ran out; the bound's count does.
            if (_arena.HostMemory.Refusals != refusals && _arena.HostMemory.LastRefusal is { } refusal)
                throw new HostMemoryException($"{Where(command, file)}: {oom.Message.TrimEnd('.')}: {char.ToLowerInvariant(refusal.Message[0])}{refusal.Message[1..]}", refusal);
            throw Failed(command, file, command.Address, oom.Message, oom);
        }
    }

    /// <summary>Disposes the address space, the machine and the arena.</summary>
    public void Dispose()
    {
        _space.Dispose();
        _machine.Dispose();
        _arena.Dispose();
    }

    private static ScenarioExecutionException Failed(ScenarioCommand command, string file, ulong address, string message, Exception cause) =>
        new($"{Where(command, file)}: {message}", file, command.Line, address, cause);

    private static string Where(ScenarioCommand command, string file) => $"{(file.Length > 0 ? file + ":" : "line ")}{command.Line}";
}
