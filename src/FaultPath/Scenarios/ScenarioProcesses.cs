using System.Collections.Generic;

namespace LargeFolios.FaultPath;

/// <summary>
/// The process rules of a scenario, checked as its lines are read: process 0 exists at the start;
/// <c>fork</c> gives its child the next id never used; <c>exit</c> ends the current process and
/// must be followed by <c>process</c>; <c>process n</c> names a live process; the last live process
/// cannot exit. A line that breaks one is malformed (exit status 2), as the kernel's side cannot
/// run it either. The reader stamps each <c>fork</c> with the id its child gets.
/// </summary>
internal sealed class ScenarioProcesses
{
    private readonly HashSet<int> _alive = [0];
    private int _current;
    private int _next = 1;
    private bool _exited;

    /// <summary>Checks <paramref name="command"/> against the processes so far and applies it.</summary>
    /// <returns>The command, a fork stamped with its child's id.</returns>
    /// <exception cref="ScenarioSyntaxException">The command breaks a rule; the message names the file and line.</exception>
    public ScenarioCommand Check(ScenarioCommand command, string file)
    {
        if (_exited && command.Verb != ScenarioVerb.Process)
            Fail(file, command.Line, $"process {_current} has exited; expected a \"process <n>\" line after \"exit\" (live: {Live()})");

        switch (command.Verb)
        {
            case ScenarioVerb.Process:
                if (!_alive.Contains(command.Process))
                {
                    string state = command.Process < _next ? "has exited" : "does not exist";
                    Fail(file, command.Line, $"process {command.Process} {state}; expected a live process ({Live()})");
                }

                _current = command.Process;
                _exited = false;
                break;

            case ScenarioVerb.Fork:
                if (_next >= ScenarioReader.MaxProcesses)
                    Fail(file, command.Line, $"a scenario may create at most {ScenarioReader.MaxProcesses} processes; expected fewer forks");
                command = command with { Process = _next };
                _alive.Add(_next++);
                break;

            case ScenarioVerb.Exit:
                if (_alive.Count == 1)
                    Fail(file, command.Line, $"process {_current} is the last one alive; expected another process to exist before it exits");
                _alive.Remove(_current);
                _exited = true;
                break;
        }

        return command;
    }

    private string Live()
    {
        var ids = new List<int>(_alive);
        ids.Sort();
        return ids.Count == 1 ? $"process {ids[0]}" : "processes " + string.Join(", ", ids);
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void Fail(string file, int line, string what) =>
        throw new ScenarioSyntaxException($"{file}:{line}: {what}.", file, line);
}
