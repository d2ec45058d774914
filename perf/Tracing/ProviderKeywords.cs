using System.Diagnostics.Tracing;

namespace LargeFolios.Folios.Tracing;

/// <summary>One provider a session enables, and the keywords it enables it with.</summary>
/// <param name="Provider">The provider's name (<c>LargeFolios-FaultPath</c>).</param>
/// <param name="Keywords">Its own keywords, never zero: a provider with none is left out of the session.</param>
internal readonly record struct ProviderKeywords(string Provider, EventKeywords Keywords);
